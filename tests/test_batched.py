"""llm.batch_size > 1: several items per llama_decode, outputs independent of their batch.

With the real embedded model. The contract under test: an item's output depends
on its prompt, sampling, seed and batch_size, never on which other items share
its steps, which slot it gets, or when it arrives; batch_size itself is part of
every cache key and of provenance.
"""

import re
import threading

import pytest

from synthempathy.core.errors import UserError
from synthempathy.core.params import GenerationParams, LlamaCppParams, SamplingParams, load_params
from synthempathy.generation.cache import RequestCache
from synthempathy.chain_of_empathy import respond_steps
from synthempathy.generation.chat import load_chat_template
from synthempathy.generation.choice import load_choices
from synthempathy.generation.driver import Generator, Item, Step
from synthempathy.generation.llm import Backend, make_backend
from synthempathy.generation.llm.llama_cpp import LlamaCppBackend
from synthempathy.generation.llm.llama_cpp_batched import BatchedLlamaCppBackend
from synthempathy.generation.prompts import load_template

pytestmark = pytest.mark.model

from conftest import ROOT

SAMPLING = SamplingParams(temperature=0.9, top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.15, max_tokens=40,
                          stop=["\n\n", "###"])
SITUATIONS = ["Losing a job", "A flat tyre", "A noisy neighbour", "Failing an exam", "Moving house",
              "A sick parent", "Rent going up"]
BRAINSTORM = GenerationParams(prompt="prompts/brainstorm.txt", temperature=1.0, max_tokens=40,
                              stop=["###", "\nSituation:", "\n\n"])


def llm(batch_size: int, max_attempts: int = 2, prompt_chunk: int = 0) -> LlamaCppParams:
    return LlamaCppParams(n_ctx=1024, n_threads=2, max_attempts=max_attempts, batch_size=batch_size,
                     prompt_chunk=prompt_chunk)


def complete_all(backend, requests, in_flight: int, grammar: str | None = None):
    """Call backend.complete for every (prompt, seed) with `in_flight` threads; results by index."""
    results, todo, lock = {}, list(enumerate(requests)), threading.Lock()

    def work():
        while True:
            with lock:
                if not todo:
                    return
                index, (prompt, seed) = todo.pop(0)
            results[index] = backend.complete(prompt, SAMPLING, seed, grammar)

    threads = [threading.Thread(target=work) for _ in range(in_flight)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [results[i] for i in range(len(requests))]


def brainstorm_prompts():
    template = load_template(ROOT / "prompts/brainstorm.txt", {"situation"})
    return [(template.render(situation=s), 100 + i) for i, s in enumerate(SITUATIONS)]


@pytest.mark.parametrize("prompt_chunk", [0, 4])
def test_output_does_not_depend_on_neighbours_slots_or_arrival(prompt_chunk):
    """Also with prompts in fixed steps of 4 x 4 tokens (llm.prompt_chunk): the brainstorm
    suffixes (~10 tokens) take several steps each, shared with whatever else waits."""
    requests = brainstorm_prompts()
    backend = make_backend(llm(4, prompt_chunk=prompt_chunk))
    assert isinstance(backend, BatchedLlamaCppBackend) and backend.concurrency == 4 and backend.batch_rows == 4
    try:
        full = complete_all(backend, requests, in_flight=4)  # 7 items through 4 slots: refills mid-batch
        backward = complete_all(backend, requests[::-1], in_flight=3)[::-1]  # other neighbours and slots
        alone = [backend.complete(prompt, SAMPLING, seed) for prompt, seed in requests[:2]]  # 3 of 4 rows padding
    finally:
        backend.close()
    assert [c.text for c in backward] == [c.text for c in full]
    assert [c.text for c in alone] == [c.text for c in full[:2]]
    assert len({c.text for c in full}) == len(full)  # seeds and situations differ: so do the stories
    assert all(c.completion_tokens > 0 and c.finish_reason in ("stop", "length") for c in full)
    assert backend.timing.prefill_tokens > 0 and backend.timing.prompt_calls > 0


def test_prompt_chunk_is_part_of_the_identity():
    """Prompts evaluated in steps give other numbers than prompts evaluated alone (measured: 4 of
    7 brainstorm stories differ with 8-token steps), so neither may be served the other's cached calls."""
    alone, chunked = (make_backend(llm(4, prompt_chunk=n)).identity for n in (0, 32))
    assert chunked.implementation.startswith("llama_cpp_batched r") and ", prompts in 32-token steps, " in chunked.implementation
    assert "token steps" not in alone.implementation
    assert alone.model_dump() | {"implementation": ""} == chunked.model_dump() | {"implementation": ""}


def test_stop_strings_and_max_tokens_end_a_sequence_like_create_completion():
    prompt, seed = brainstorm_prompts()[0]
    results = {}
    for size in (1, 3):
        backend = make_backend(llm(size))
        try:
            results[size] = (
                backend.complete(prompt, SAMPLING.model_copy(update={"stop": [" "]}), seed),  # the first space ends it
                backend.complete(prompt, SAMPLING.model_copy(update={"stop": [], "max_tokens": 5}), seed),
            )
        finally:
            backend.close()
    for size, (stopped, cut) in results.items():
        assert stopped.finish_reason == "stop" and " " not in stopped.text, size
        assert cut.finish_reason == "length" and cut.completion_tokens == 5 and cut.text, size


def test_prompts_with_different_static_prefixes_share_one_batch():
    """Two templates at once: each slot copies its own prefix, so both match their solo runs."""
    story = load_template(ROOT / "prompts/rewrite.txt", {"situation", "story"})
    mixed = [(story.render(situation=s, story=f"I had to deal with {s.lower()} this week."), 200 + i)
             for i, s in enumerate(SITUATIONS[:3])]
    requests = [r for pair in zip(brainstorm_prompts()[:3], mixed) for r in pair]  # alternate templates
    backend = make_backend(llm(4))
    try:
        together = complete_all(backend, requests, in_flight=4)
        solo = [backend.complete(prompt, SAMPLING, seed) for prompt, seed in requests]
    finally:
        backend.close()
    assert [c.text for c in together] == [c.text for c in solo]


def run_generator(batch_size: int, names: list[str]):
    template = load_template(ROOT / BRAINSTORM.prompt, {"situation"})
    backend, cache = make_backend(llm(batch_size)), RequestCache()
    try:
        gen = Generator("brainstorm", template, BRAINSTORM, llm(batch_size), backend, cache, (Step("story"),))
        return gen.run([Item(id=f"s{SITUATIONS.index(n)}", values={"situation": n}) for n in names]), gen.stats
    finally:
        backend.close()
        cache.close()


def test_batch_size_is_in_cache_keys_and_provenance():
    names = SITUATIONS[:3]
    batched, stats8 = run_generator(8, names)
    single, stats1 = run_generator(1, names)  # same cache: nothing of the batched run may be served
    again, stats8b = run_generator(8, names)
    assert stats1.cache_hits == 0 and stats1.model_calls >= len(names)
    assert stats8b.model_calls == 0 and stats8b.cache_hits == stats8.model_calls
    assert [o.fields for o in again] == [o.fields for o in batched]
    assert {o.provenance.backend.batch_rows for o in batched if o.fields} == {8}
    assert {o.provenance.backend.batch_rows for o in single if o.fields} == {None}


def test_batch_size_one_is_the_one_at_a_time_backend():
    backend = make_backend(llm(1))
    assert type(backend) is LlamaCppBackend and backend.concurrency == 1 and backend.batch_rows is None


@pytest.mark.parametrize("size", [1, 2])
def test_a_grammar_llama_cpp_cannot_parse_is_a_user_error_not_a_crash(size):
    backend = make_backend(llm(size))
    prompt, seed = brainstorm_prompts()[0]
    try:
        with pytest.raises(UserError, match=r"cannot parse the GBNF grammar starting 'root ::= undefined_rule'"):
            backend.complete(prompt, SAMPLING, seed, grammar="root ::= undefined_rule\n")
        good = backend.complete(prompt, SAMPLING.model_copy(update={"max_tokens": 4}), seed,
                                grammar='root ::= " yes" | " no"\n')
    finally:
        backend.close()
    assert good.text in (" yes", " no")


def test_a_grammar_checked_token_by_token_still_shapes_every_answer_whatever_the_batch():
    """The grammar only vetoes the chain's pick, so the model's free choice (a story) is rejected
    at nearly every token and sampled again under the grammar: answers must all match it and
    must not depend on the batch, like ungrammared ones."""
    grammar = 'root ::= "{\\"mood\\": " ("0" | "1" | "2") ", \\"words\\": \\"" [a-z ]+ "\\"}"\n'
    requests = brainstorm_prompts()
    backend = make_backend(llm(4))
    try:
        first = [c.text for c in complete_all(backend, requests, in_flight=4, grammar=grammar)]
        resampled = backend.timing.grammar_resamples
        again = [c.text for c in complete_all(backend, requests[::-1], in_flight=2, grammar=grammar)][::-1]
    finally:
        backend.close()
    assert resampled >= len(requests)  # the rejection path ran for every item
    assert all(re.fullmatch(r'\{"mood": [012], "words": "[a-z ]+("\})?', text) for text in first), first
    assert again == first


def test_a_closed_backend_refuses_calls_instead_of_waiting_forever():
    backend = make_backend(llm(2))
    prompt, seed = brainstorm_prompts()[0]
    first = backend.complete(prompt, SAMPLING.model_copy(update={"max_tokens": 3}), seed)
    backend.close()
    assert first.completion_tokens <= 3
    with pytest.raises(RuntimeError, match="closed backend"):
        backend.complete(prompt, SAMPLING, seed)


RESPOND = GenerationParams(prompt="prompts/respond.txt", temperature=0.7, top_p=0.9, top_k=40, min_p=0.05,
                           repeat_penalty=1.15, max_tokens=48, stop=["###", "\nExplanation:", "\n\n"])
EXPLANATIONS = [f"I have been dealing with {s.lower()} and I keep lying awake thinking about it. "
                "Nobody around me seems to notice how hard it has been." for s in SITUATIONS[:5]]


def chain_of_empathy():
    """respond's steps as the stage builds them from params.yaml: Chain-of-Empathy with its emotion
    named from the list (so the scoring path runs in the slots too)."""
    return respond_steps(load_params(ROOT / "params.yaml").respond, ROOT)


class Recording(Backend):
    """Passes calls to `inner` and keeps (prompt, sampling, seed) of each (seed None for a score)."""

    def __init__(self, inner: Backend):
        self.inner, self.identity, self.concurrency, self.calls = inner, inner.identity, inner.concurrency, []
        self.prompt_format, self.chat_markers, self.render_chat = inner.prompt_format, inner.chat_markers, inner.render_chat

    def complete(self, prompt, sampling, seed, grammar=None):
        self.calls.append((prompt, sampling, seed))
        return self.inner.complete(prompt, sampling, seed, grammar)

    def score(self, prompt, continuations, sampling):
        self.calls.append((prompt, sampling, None))
        return self.inner.score(prompt, continuations, sampling)


def run_respond(cache: RequestCache, order: list[int], prompt_chunk: int = 0, model: str = "embedded",
                chat_prompt: str = "prompts/chat/respond.txt"):
    """The chain over EXPLANATIONS in `order`, a new 3-row backend, one attempt per item (so a
    run computes exactly the calls its cache lacks); (fields by id, backend timing, calls, generator).
    A chat model gets `chat_prompt`: one answer begun in the assistant's turn, or a turn per step."""
    template = load_template(ROOT / RESPOND.prompt, {"explanation", "guidance"})
    chat = load_chat_template(ROOT / chat_prompt, {"explanation", "guidance"}, ["emotion", "cause"])
    params = llm(3, max_attempts=1, prompt_chunk=prompt_chunk).model_copy(update={"model": model})
    backend = Recording(make_backend(params))
    try:
        gen = Generator("respond", template, RESPOND, params, backend, cache, chain_of_empathy(), chat=chat)
        items = [Item(id=f"e{i}", values={"explanation": EXPLANATIONS[i], "guidance": ""}) for i in order]
        outcomes = {o.item.id: (o.fields, o.reason, o.detail) for o in gen.run(items)}
        return outcomes, backend.inner.timing, backend.calls, gen
    finally:
        backend.inner.close()


def step_of(prompt) -> int:
    return 3 if prompt.suffix.endswith("\nResponse:") else 2 if prompt.suffix.endswith("\nCause:") else 1


@pytest.mark.parametrize("prompt_chunk, model, chat_prompt", [
    (0, "embedded", "prompts/chat/respond.txt"), (16, "embedded", "prompts/chat/respond.txt"),  # not read: a base model
    (0, "smollm2", "prompts/chat/respond.txt"), (0, "smollm2", "prompts/chat/respond_turns.txt")])
def test_a_step_that_reuses_the_previous_steps_prompt_matches_one_evaluated_from_scratch(tmp_path, prompt_chunk,
                                                                                        model, chat_prompt):
    """Chain-of-Empathy's cause and response steps extend the emotion step's prompt, which the
    slot still holds; a run resumed after a kill (earlier steps from the cache) evaluates it
    again. Both must give the same answers, whatever the arrival order, with prompts evaluated
    alone or in prompt steps, and with a chat model's steps in one answer or asked turn by turn."""
    first = RequestCache(tmp_path / "fresh.sqlite")
    fresh, timing, calls, gen = run_respond(first, [0, 1, 2, 3, 4], prompt_chunk, model, chat_prompt)
    assert all(call[0].chat == (model == "smollm2") for call in calls)
    assert timing.reused_tokens > 0  # the kept prompts were used, not re-evaluated
    assert {step_of(call[0]) for call in calls} == {1, 2, 3}
    assert all(seed is None for prompt, _, seed in calls if step_of(prompt) == 1)  # the emotion was scored
    for k in (1, 2):  # killed after step k of every item: the cache holds steps 1..k
        cache = RequestCache(tmp_path / f"killed-after-{k}.sqlite")
        for prompt, sampling, seed in calls:
            if step_of(prompt) <= k:
                key = gen.request_key(prompt, sampling, seed, gen.steps[step_of(prompt) - 1])
                cache.put(key, first.get(key))
        resumed, timing, recomputed, _ = run_respond(cache, [4, 2, 0, 3, 1], prompt_chunk, model, chat_prompt)
        assert resumed == fresh, k
        assert min(step_of(call[0]) for call in recomputed) == k + 1  # step k + 1 starts from a cold slot
    assert timing.reused_tokens == 0  # after step 2: the response steps evaluated their prompts anew
    emotions = load_choices(ROOT / "prompts/emotions.txt", "respond.emotion_list")
    named = [first.get(gen.request_key(prompt, sampling, seed, gen.steps[0]))["text"].strip().split(" and ")
             for prompt, sampling, seed in calls if step_of(prompt) == 1 and "N/A" not in prompt.suffix]
    assert len(named) == 5 and all(set(n) <= set(emotions) and len(set(n)) == len(n) for n in named), named
    # the comparison covers the last step: its text is in `fields` or, cut at max_tokens, in `detail`
    assert sum(not reason or detail.startswith("response:") for _, reason, detail in fresh.values()) >= 2
