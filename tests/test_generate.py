"""The generation driver and the llama.cpp backend, with the real embedded model."""

import pytest

from synthempathy.core.errors import UserError
from synthempathy.core.params import GenerationParams, LlamaCppParams
from synthempathy.generation.cache import RequestCache
from synthempathy.generation.driver import Generator, Item, Step, clean
from synthempathy.generation.llm import make_backend
from synthempathy.generation.llm.llama_cpp import format_chat
from synthempathy.generation.models import resolve_model
from synthempathy.generation.prompts import Prompt, load_template

from conftest import ROOT

LLM = LlamaCppParams(n_ctx=1024, n_threads=2, max_attempts=2)
BRAINSTORM = GenerationParams(prompt="prompts/brainstorm.txt", temperature=1.0, max_tokens=48,
                              stop=["###", "\nSituation:", "\n\n"])
SITUATIONS = ["Losing a job", "A flat tyre on the way to an interview", "A noisy neighbour", "Failing an exam"]


def run(items, steps=(Step("story"),), llm=LLM, params=BRAINSTORM, grammar=None):
    template = load_template(ROOT / params.prompt, {"situation"})
    backend = make_backend(llm)
    cache = RequestCache()
    try:
        gen = Generator("brainstorm", template, params, llm, backend, cache, steps, grammar)
        return gen.run(items), gen.stats
    finally:
        backend.close()
        cache.close()


def items(names):
    return [Item(id=f"i{SITUATIONS.index(n)}", values={"situation": n}) for n in names]


@pytest.mark.model
@pytest.mark.parametrize("batch_size", [1, 8])  # one at a time, and the batched default
def test_outputs_do_not_depend_on_order_or_history(isolated_cache, tmp_path, monkeypatch, batch_size):
    llm = LLM.model_copy(update={"batch_size": batch_size})
    together, stats = run(items(SITUATIONS), llm=llm)
    assert stats.model_calls >= len(SITUATIONS) and stats.cache_hits == 0
    texts = {o.item.id: o.fields for o in together}
    for name in reversed(SITUATIONS):  # each alone, fresh process state, fresh cache
        monkeypatch.setenv("SYNTHEMPATHY_CACHE_DIR", str(tmp_path / name))
        alone, _ = run(items([name]), llm=llm)
        assert alone[0].fields == texts[alone[0].item.id]
    assert all(o.provenance.backend.model == "gemma-3-270m-q4_k_m.gguf" for o in together if o.fields)


@pytest.mark.model
def test_second_run_is_served_from_cache_without_model_calls():
    first, stats1 = run(items(SITUATIONS[:2]))
    second, stats2 = run(items(SITUATIONS[:2]))
    assert stats2.model_calls == 0
    assert stats2.cache_hits == stats1.model_calls
    assert [o.fields for o in first] == [o.fields for o in second]
    assert [o.provenance for o in first] == [o.provenance for o in second]


@pytest.mark.model
def test_empty_output_is_retried_with_new_seeds_then_rejected():
    outcomes, stats = run(items(SITUATIONS[:1]), grammar='root ::= " "')  # whitespace only
    assert outcomes[0].fields is None and outcomes[0].reason == "empty"
    assert stats.model_calls == 2 and stats.retries == 1
    assert stats.rejected == {"empty": 1}


@pytest.mark.model
def test_steps_are_led_in_by_their_labels():
    params = BRAINSTORM.model_copy(update={"stop": ["###"], "max_tokens": 96})
    steps = (Step("story", single_line=True), Step("feeling", "\nFeeling:", single_line=True))
    outcomes, _ = run(items(SITUATIONS), steps=steps, params=params)  # all four: which ones pass varies by CPU
    for outcome in outcomes:
        if outcome.fields is not None:
            assert set(outcome.fields) == {"story", "feeling"}
            assert all("\n" not in v for v in outcome.fields.values())
    assert any(o.fields is not None for o in outcomes)


@pytest.mark.model
def test_grammar_constrains_output_and_is_recorded():
    grammar = 'root ::= " yes" | " no"\n'
    outcomes, _ = run(items(SITUATIONS[:2]), grammar=grammar, params=BRAINSTORM.model_copy(update={"max_tokens": 8}))
    assert [o.fields["story"] for o in outcomes] == [o.fields["story"] for o in outcomes if o.fields["story"] in ("yes", "no")]
    assert all(o.provenance.grammar_sha256 and len(o.provenance.grammar_sha256) == 64 for o in outcomes)


def test_clean_collapses_spaces_and_keeps_line_breaks():
    assert clean("  Two  spaces.\n\n  Next\tline ") == "Two spaces.\n\nNext line"
    assert clean(" \n\t ") == ""


@pytest.mark.model
def test_max_tokens_cut_is_truncated_and_records_attempts():
    tiny = BRAINSTORM.model_copy(update={"max_tokens": 2, "stop": []})
    outcomes, stats = run(items(SITUATIONS[:1]), params=tiny)
    assert outcomes[0].reason == "truncated" and stats.model_calls == LLM.max_attempts


@pytest.mark.model
def test_context_too_small_is_a_user_error():
    with pytest.raises(UserError, match=r"^brainstorm \(.*prompts/brainstorm\.txt, item i0\): prompt of \d+ tokens .*exceeds llm\.n_ctx 256"):
        run(items(SITUATIONS[:1]), llm=LLM.model_copy(update={"n_ctx": 256}))


@pytest.mark.model
def test_chat_format_requires_a_template():
    with pytest.raises(UserError, match="has no chat template"):
        run(items(SITUATIONS[:1]), llm=LLM.model_copy(update={"prompt_format": "chat"}))


def test_bad_model_paths(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        resolve_model(str(tmp_path / "nope.gguf"))
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(UserError, match="is not a GGUF file"):
        resolve_model(str(fake))


def test_local_gguf_path_gets_name_and_sha(embedded_model):
    again = resolve_model(str(embedded_model.path))
    assert again.sha256 == embedded_model.sha256
    assert again.name == embedded_model.path.name  # a file name, never an absolute path


def test_format_chat_keeps_static_prefix_reusable():
    template = "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}<start_of_turn>model\n"
    prompt = Prompt(prefix="Instructions\n\n", suffix="Story: x\nExplanation:")
    chat = format_chat(template, "<bos>", "<eos>", prompt)
    assert chat.prefix == "<bos><start_of_turn>user\nInstructions\n\n"
    assert chat.suffix == "Story: x\nExplanation:<end_of_turn>\n<start_of_turn>model"  # jinja trim_blocks eats the last newline
    assert chat.pieces() == [chat.suffix]  # nothing extends it: one piece
    first = format_chat(template, "<bos>", "<eos>", Prompt(prompt.prefix, prompt.suffix, cuts=(len(prompt.suffix),)))
    assert first.pieces() == ["Story: x\nExplanation:", "<end_of_turn>\n<start_of_turn>model"]
    last = format_chat(template, "<bos>", "<eos>", Prompt(prompt.prefix, prompt.suffix + " sad\nCause:",
                                                          cuts=(len(prompt.suffix),)))
    assert last.prefix == chat.prefix  # a later step keeps the prefix and the earlier step's piece
    assert last.pieces() == ["Story: x\nExplanation:", " sad\nCause:<end_of_turn>\n<start_of_turn>model"]
    bare = format_chat(template, "<bos>", "<eos>", Prompt("", prompt.suffix, cuts=(len(prompt.suffix),)))
    assert bare.prefix == "" and bare.pieces() == ["<bos><start_of_turn>user\nStory: x\nExplanation:",
                                                   "<end_of_turn>\n<start_of_turn>model"]


@pytest.mark.model
def test_a_choice_step_names_listed_emotions_by_likelihood_and_one_stage_grammar_keeps_its_hash(isolated_cache):
    import hashlib

    from synthempathy.generation.choice import continuations, load_choices

    emotions = load_choices(ROOT / "prompts" / "emotions.txt", "respond.emotion_list")
    respond = GenerationParams(prompt="prompts/respond.txt", temperature=0.7, max_tokens=96, stop=["###", "\n\n"])
    template = load_template(ROOT / respond.prompt, {"explanation", "guidance"})
    steps = (Step("emotion", single_line=True, choices=emotions), Step("cause", "\nCause:", single_line=True))
    texts = ["I lost my job on Friday and I have no idea how I am going to pay rent next month.",
             "My best friend stopped answering my messages and I keep wondering what I did wrong."]
    backend, cache = make_backend(LLM), RequestCache()
    try:
        gen = Generator("respond", template, respond, LLM, backend, cache, steps)
        outcomes = gen.run([Item(id=f"e{i}", values={"explanation": text, "guidance": ""})
                            for i, text in enumerate(texts)])
        # scoring every entry at once equals scoring each alone: shared starts change no number
        prompt = template.render(explanation=texts[0], guidance="")
        both = backend.score(prompt, continuations(emotions[:3]), respond).logprobs
        alone = [backend.score(prompt, [text], respond).logprobs[0] for text in continuations(emotions[:3])]
        assert both == alone and all(x < 0 for x in both)
    finally:
        backend.close()
        cache.close()
    kept = [o for o in outcomes if o.fields is not None]  # a cause may still run long or come back empty
    assert kept, [(o.reason, o.detail) for o in outcomes]
    for outcome in kept:
        named = outcome.fields["emotion"].split(" and ")
        assert set(named) <= set(emotions) and len(set(named)) == len(named), outcome.fields
        assert outcome.fields["cause"]  # the next step is free text
        assert outcome.provenance.grammar_sha256 == hashlib.sha256("\n".join(emotions).encode()).hexdigest()
    # a stage grammar and no list: the hash every earlier judgement carries
    stage_only = Generator("judge", template, respond, LLM, backend, RequestCache(), (Step("x"),), "root ::= [0-2]")
    assert stage_only.grammar_sha256 == hashlib.sha256(b"root ::= [0-2]").hexdigest()
    stage_only.cache.close()


def test_the_batched_schedulers_report_says_where_its_time_went():
    from synthempathy.generation.llm.llama_cpp_batched import DecodeTiming

    timing = DecodeTiming(prefill_s=1.0, prefill_tokens=100, prompt_calls=7, reused_tokens=50, grammar_resamples=2,
                          decode_s=3.0, steps=10, busy_rows=30)
    assert timing.ceiling(4) == 40 / 3
    assert timing.describe(4) == ("scheduler 4s: prompts 25% (100 tokens evaluated in 7 calls, 50 kept from earlier "
                                  "steps), decode steps 75% with 75% of rows busy, padded ceiling 13 tok/s; "
                                  "2 grammar resamples")
