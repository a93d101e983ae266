"""The downstream pipeline's parts on a tiny randomly initialised Gemma 3 (tests/tiny_causal_lm.py): the
split, LoRA training and its response-only loss, the adapter in llama.cpp's GGUF layout, answering
through transformers, the paired measurement and the judge choice. The real embedded model runs in
tests/test_downstream_model.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from synthempathy.core.errors import UserError
from synthempathy.core.params import (DownstreamParams, FilterParams, GateParams, LoraParams, TrainParams,
                                       load_params)
from synthempathy.core.records import AnswerScore, BackendIdentity, Explanation, HeldOutPrompt, Pair
from synthempathy.downstream import lora_gguf, measure
from synthempathy.downstream.adapter import check_base
from synthempathy.downstream.base_model import BaseSource, prepare, read_source, resolve_base
from synthempathy.downstream.split import epitome_prompts, held_out_seeds, split
from synthempathy.generation.prompts import load_template

from conftest import ROOT
from fakes import provenance
from tiny_causal_lm import write_gguf_header, write_tiny_gemma

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

WARM = [
    ("I lost my job today and I feel like a failure.",
     "I am so sorry. That sounds really painful. How are you feeling right now?"),
    ("My sister did not call me on my birthday.",
     "That must hurt so much. I am sorry. How are you feeling about her?"),
    ("I failed my driving test again.",
     "Oh no, I am so sorry. That sounds frustrating. How are you feeling now?"),
    ("My flat is cold and the landlord ignores me.",
     "That sounds so stressful, I am sorry. How are you feeling about it?"),
]
NO_GATES = FilterParams(gates=GateParams(enabled=False))
TEMPLATE = load_template(ROOT / "prompts/downstream.txt", {"explanation"})


def pair(pid: str, seed_id: str, explanation: str, response: str) -> Pair:
    return Pair(id=pid, seed_id=seed_id, category=seed_id.split("-")[0], situation="s", story="t",
                explanation=explanation, response=response, provenance={})


def explanation(pid: str, seed_id: str, text: str | None = None) -> Explanation:
    text = text or (f"I am worried about my deadline at work ({pid}) because my manager keeps adding tasks and I "
                    "cannot sleep or rest at all anymore.")
    return Explanation(id=pid, seed_id=seed_id, category=seed_id.split("-")[0], situation="A deadline at work.",
                       story="Her manager keeps adding tasks before the deadline.", explanation=text, provenance={})


def test_held_out_seeds_are_stable_when_seeds_are_added_and_never_all_or_none():
    ids = [f"work-{i:02d}" for i in range(9)]
    held = held_out_seeds(ids, 0.34, seed=1)
    assert len(held) == 3
    grown = held_out_seeds(ids + [f"work-{i:02d}" for i in range(9, 30)], 0.34, seed=1)
    assert len(grown) == 10
    assert held_out_seeds(ids, 0.01, seed=1) and len(held_out_seeds(ids, 0.99, seed=1)) == 8
    assert held_out_seeds(ids, 0.34, seed=2) != held
    with pytest.raises(UserError, match="at least 2"):
        held_out_seeds(["work-00"], 0.5, seed=1)


def test_no_training_pair_shares_a_seed_with_a_prompt():
    seeds = [f"work-{i}" for i in range(6)]
    pairs = [pair(f"{s}-{k}", s, f"text {s} {k}", "reply") for s in seeds for k in range(3)]
    explanations = [explanation(f"{s}-{k}", s) for s in seeds for k in range(4)]
    train, prompts = split(pairs, explanations, DownstreamParams(held_out_share=0.34), NO_GATES)
    held = {p.id.rsplit("-", 1)[0] for p in prompts}
    assert len(held) == 2 and len(prompts) == 8 and all(p.source == "held_out" for p in prompts)
    assert {p.seed_id for p in train}.isdisjoint(held) and len(train) == 12
    assert [p.id for p in train] == sorted(p.id for p in train)
    capped = split(pairs, explanations, DownstreamParams(held_out_share=0.34, max_prompts=3), NO_GATES)[1]
    assert len(capped) == 3 and {p.id for p in capped} <= {p.id for p in prompts}
    # a held-out explanation the filter would drop (third person, a story label) is no prompt
    bad = [explanation(p.id, p.id.rsplit("-", 1)[0], "Story: She missed the deadline at work and her manager "
                       "was angry, so she stayed late every night that week to finish all of the tasks.")
           for p in prompts[:3]]
    replaced = {b.id: b for b in bad}
    kept = split(pairs, [replaced.get(e.id, e) for e in explanations], DownstreamParams(held_out_share=0.34),
                 FilterParams())[1]
    assert {p.id for p in kept} == {p.id for p in prompts} - {b.id for b in bad}


def test_a_corpus_with_nothing_left_to_train_on_is_a_one_line_error():
    pairs = [pair("work-0-0", "work-0", "x", "y")]
    explanations = [explanation("work-0-0", "work-0"), explanation("work-1-0", "work-1")]
    params = DownstreamParams(held_out_share=0.5, seed=0)
    held = held_out_seeds(["work-0", "work-1"], 0.5, 0)
    if held == {"work-1"}:  # make the only pair's seed the held-out one
        params = DownstreamParams(held_out_share=0.5, seed=next(s for s in range(50)
                                                                if held_out_seeds(["work-0", "work-1"], 0.5, s)
                                                                == {"work-0"}))
    with pytest.raises(UserError, match=r"downstream.held_out_share: the corpus has no pair outside"):
        split(pairs, explanations, params, NO_GATES)


def test_epitome_prompts_need_the_calibration_split(tmp_path):
    assert epitome_prompts(0, 1, tmp_path / "missing.jsonl") == []
    with pytest.raises(UserError, match=r"downstream.epitome_prompts: .*missing.jsonl not found.*calibration"):
        epitome_prompts(5, 1, tmp_path / "missing.jsonl")
    rows = [{"id": f"s{i}-r{j}", "seeker_id": f"s{i}", "seeker_post": f"post {i}", "response_post": "r",
             "emotional_reaction": 0, "interpretation": 0, "exploration": 0} for i in range(5) for j in range(2)]
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps(r) + "\n" for r in rows))
    chosen = epitome_prompts(3, 1, test)
    assert len(chosen) == 3 and len({p.explanation for p in chosen}) == 3
    assert all(p.source == "epitome" and p.id.startswith("epitome-s") for p in chosen)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    folder = write_tiny_gemma(tmp_path_factory.mktemp("tiny") / "gemma", [e + " " + r for e, r in WARM])
    return folder


def test_response_loss_is_the_models_own_loss_over_response_tokens(tiny_base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from synthempathy.downstream.train import IGNORE, collate, encode, response_loss

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base, attn_implementation="eager")
    examples = [encode(tokenizer, TEMPLATE, e, r, 64) for e, r in WARM[:3]]
    prompt_tokens = len(tokenizer(TEMPLATE.render(explanation=WARM[0][0]).text)["input_ids"])
    assert examples[0].labels[:prompt_tokens] == [IGNORE] * prompt_tokens
    assert examples[0].labels[-1] == tokenizer.eos_token_id and examples[0].labels[prompt_tokens] != IGNORE
    batch = collate(examples, tokenizer.pad_token_id)
    with torch.no_grad():
        ours = response_loss(model, batch)
        theirs = model(**batch).loss
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    cut = encode(tokenizer, TEMPLATE, WARM[0][0], WARM[0][1], prompt_tokens + 2)
    assert len(cut.input_ids) == prompt_tokens + 2
    assert encode(tokenizer, TEMPLATE, WARM[0][0], WARM[0][1], prompt_tokens) is None


def train(tiny_base: Path, out: Path, pairs=WARM, **train_params):
    from synthempathy.downstream.train import train_lora

    params = DownstreamParams(device="cpu", lora=LoraParams(r=4, alpha=8),
                              train=TrainParams(**{"epochs": 6, "learning_rate": 3e-2, "batch_size": 2,
                                                   "max_length": 64, "threads": 1, **train_params}))
    return train_lora(tiny_base, pairs, TEMPLATE, params, out)


def test_training_learns_the_responses_and_writes_the_same_adapter_twice(tiny_base, tmp_path):
    first = train(tiny_base, tmp_path / "a")
    again = train(tiny_base, tmp_path / "b")
    assert first.examples == 4 and first.cut == 0 and len(first.losses) == 12  # 6 epochs x 2 steps
    assert sum(first.losses[-2:]) < 0.7 * sum(first.losses[:2])
    assert first.losses == again.losses
    weights = "adapter_model.safetensors"
    assert (tmp_path / "a" / weights).read_bytes() == (tmp_path / "b" / weights).read_bytes()
    long = (" ".join(WARM[0][0] for _ in range(3)), "ok")
    with pytest.raises(UserError, match=r"downstream.train.max_length: 16 tokens hold no response of any of the 1"):
        train(tiny_base, tmp_path / "c", pairs=[long], max_length=16)


def test_the_adapter_becomes_llama_cpp_lora_tensors(tiny_base, tmp_path):
    import gguf
    from safetensors.numpy import load_file

    train(tiny_base, tmp_path / "adapter", epochs=1)
    header = write_gguf_header(tmp_path / "base.gguf")
    assert lora_gguf.convert(tmp_path / "adapter", header, tmp_path / "adapter.gguf") == 14  # 7 modules x 2 layers
    reader = gguf.GGUFReader(str(tmp_path / "adapter.gguf"))
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["adapter.lora.alpha"].contents() == 8.0
    assert reader.fields["general.architecture"].contents() == "gemma3"
    tensors = {t.name: t for t in reader.tensors}
    peft = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
    a = peft["base_model.model.model.layers.1.mlp.down_proj.lora_A.weight"]  # [r, in]
    b = peft["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"]  # [out, r]
    assert a.shape == (4, 64) and b.shape == (32, 4)
    assert (tensors["blk.1.ffn_down.weight.lora_a"].data == a).all()
    assert (tensors["blk.1.ffn_down.weight.lora_b"].data == b).all()
    assert {"blk.0.attn_q.weight.lora_a", "blk.0.attn_output.weight.lora_b", "blk.1.ffn_gate.weight.lora_a"} <= set(tensors)
    with pytest.raises(UserError, match=r"'llama' architecture is not supported"):
        lora_gguf.convert(tmp_path / "adapter", write_gguf_header(tmp_path / "llama.gguf", "llama"), tmp_path / "x.gguf")


def test_a_hugging_face_base_is_used_in_place_and_named_by_its_files(tiny_base, tmp_path):
    source = resolve_base(str(tiny_base))
    assert source.kind == "hf" and source.name == "gemma" and len(source.sha256) == 64
    prepare(source, tmp_path / "base")
    assert read_source(tmp_path / "base") == BaseSource("hf", "gemma", "gemma", source.sha256)  # no absolute path
    assert sorted(p.name for p in (tmp_path / "base").iterdir()) == ["base.json"]
    with pytest.raises(UserError, match=r"downstream.base_model: .* does not exist"):
        resolve_base(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"downstream.base_model: .* without config.json"):
        resolve_base(str(tmp_path / "empty"))


def test_an_adapter_trained_on_another_base_is_refused(tmp_path):
    (tmp_path / "training.json").write_text(json.dumps({"base": {"name": "a.gguf", "sha256": "a" * 64}}))
    assert check_base(tmp_path, BaseSource("gguf", "a.gguf", "a.gguf", "a" * 64))["base"]["name"] == "a.gguf"
    with pytest.raises(UserError, match=r"downstream.base_model: .* was trained on a.gguf .*not on b.gguf"):
        check_base(tmp_path, BaseSource("gguf", "b.gguf", "b.gguf", "b" * 64))
    with pytest.raises(UserError, match=r"training.json: not found"):
        check_base(tmp_path / "none", BaseSource("gguf", "b.gguf", "b.gguf", "b" * 64))


def test_base_and_tuned_answer_every_prompt_with_the_same_seeds(tiny_base, tmp_path):
    """The transformers path (a Hugging Face base): each model answers each prompt once, cut off
    or not; the seeds are shared; the tuned identity carries the adapter."""
    from synthempathy.downstream.answer import answer

    adapter = tmp_path / "adapter"
    train(tiny_base, adapter, epochs=1)
    source = resolve_base(str(tiny_base))
    params = load_params(ROOT / "params.yaml").model_copy(update={"downstream": DownstreamParams.model_validate(
        {"base_model": str(tiny_base), "generate": {"max_tokens": 6}})})
    prompts = [HeldOutPrompt(id=f"p{i}", source="held_out", category="work", explanation=e)
               for i, (e, _) in enumerate(WARM[:3])]
    answers = answer(prompts, params, source, tiny_base, adapter, "cpu")
    assert [(a.model, a.id) for a in answers] == [(m, f"p{i}") for m in ("base", "tuned") for i in range(3)]
    base, tuned = answers[:3], answers[3:]
    assert [a.provenance.seed for a in base] == [a.provenance.seed for a in tuned]
    assert all(a.provenance.backend.adapter_sha256 is None for a in base)
    assert len({a.provenance.backend.adapter_sha256 for a in tuned}) == 1 and tuned[0].provenance.backend.adapter_sha256
    assert all(a.provenance.attempts == 1 for a in answers)


def test_an_identity_without_an_adapter_serialises_as_before():
    identity = BackendIdentity(model="m", model_sha256="0" * 64, format_setting="auto", implementation="x")
    assert "adapter_sha256" not in identity.model_dump() and "adapter_sha256" not in identity.model_dump_json()
    assert identity.model_copy(update={"adapter_sha256": "1" * 64}).model_dump()["adapter_sha256"] == "1" * 64


def score(pid: str, model: str, er: int, ip: int, ex: int) -> AnswerScore:
    return AnswerScore(id=pid, source="held_out", model=model, response_words=10, emotional_reaction=er,
                       interpretation=ip, exploration=ex, provenance=provenance())


def test_the_change_is_relative_to_the_base_mean_with_a_paired_interval():
    scores = [score("a", "base", 1, 0, 0), score("b", "base", 1, 1, 0),
              score("a", "tuned", 2, 0, 1), score("b", "tuned", 1, 1, 1)]
    block = measure.compare(scores, resamples=500, seed=1)
    assert block["prompts"] == 2
    assert block["base"]["ER"] == {"mean": 1.0, "std": 0.0} and block["tuned"]["ER"]["mean"] == 1.5
    assert block["change_pct"]["ER"]["value"] == 50.0
    assert block["change_pct"]["total"]["value"] == pytest.approx(100 * (6 - 3) / 3)
    assert block["change_pct"]["EX"] == {"value": None, "low": None, "high": None}  # base EX mean is 0
    er = block["change_pct"]["ER"]
    assert er["low"] <= er["value"] <= er["high"] and er["low"] >= 0.0 and er["high"] <= 100.0
    # a prompt answered by one model only is not compared
    assert measure.compare(scores + [score("c", "base", 2, 2, 2)], 500, 1)["prompts"] == 2


def test_paired_resampling_sees_a_consistent_change_that_unpaired_noise_would_hide():
    base = [0, 2, 0, 2, 0, 2, 0, 2, 1, 1] * 3
    tuned = [b + 1 for b in base]
    change = measure.paired_change(base, tuned, resamples=1000, seed=3)
    assert change["value"] == 100.0 and change["low"] > 50.0


def test_downstream_params_name_the_key():
    with pytest.raises(ValueError, match="embed_tokens cannot be converted"):
        LoraParams(target_modules=["q_proj", "embed_tokens"])
    from synthempathy.downstream.base_model import resolve_device

    if not torch.cuda.is_available():
        with pytest.raises(UserError, match=r"downstream.device: cuda, but torch sees no CUDA device"):
            resolve_device("cuda")
        assert resolve_device("auto") == "cpu"


def test_the_card_shows_a_downstream_result_only_for_the_corpus_it_was_trained_on(tmp_path):
    import yaml

    from synthempathy.card import downstream_result

    corpus = tmp_path / "data/corpus/corpus.jsonl"
    corpus.parent.mkdir(parents=True)
    corpus.write_text('{"id": "a"}\n')
    assert downstream_result(tmp_path) is None  # never run
    md5 = hashlib.md5(corpus.read_bytes()).hexdigest()
    lock = {"schema": "2.0", "stages": {
        "base": {"params": {"params.yaml": {"downstream.base_model": "embedded"}}},
        "split": {"deps": [{"path": "data/corpus/corpus.jsonl", "md5": md5}]}}}
    (tmp_path / "downstream").mkdir()
    (tmp_path / "downstream/dvc.lock").write_text(yaml.safe_dump(lock))
    change = {"value": 12.5, "low": -3.0, "high": 30.25}
    def scores(total: float) -> dict:
        level = {"mean": total / 3, "std": 0.5}
        return {"ER": level, "IP": level, "EX": level, "total": {"mean": total, "std": 1.0}, "response_words": 80.0}

    block = {"prompts": 9, "base": scores(1.2), "tuned": scores(1.35),
             "change_pct": {"total": change, "ER": change, "IP": {"value": None, "low": None, "high": None},
                            "EX": change}}
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/downstream.json").write_text(json.dumps(
        {"train_pairs": 16, "held_out": block, "judge": {"calibrated": 1, "ER_qwk": 0.68, "IP_qwk": 0.71,
                                                          "EX_qwk": 0.73}}))
    text = downstream_result(tmp_path)
    assert "`embedded` on 16 pairs" in text and "9 held-out prompts" in text
    assert "from 1.20 to 1.35, a change of +12.5% [-3.0, +30.2]" in text and "IP undefined (base mean 0)" in text
    assert "test QWK ER 0.68, IP 0.71, EX 0.73" in text and "+21%" in text
    corpus.write_text('{"id": "b"}\n')  # another corpus than the one trained on
    assert downstream_result(tmp_path) is None


def test_auto_takes_a_trained_judge_only_where_it_is_the_calibrated_one(tmp_path, capsys):
    from synthempathy.core.params import CalibrationParams, ClassifierParams, JudgeParams
    from synthempathy.core.records import ModelAnswer
    from synthempathy.downstream.score import choose_trained, key_of
    from synthempathy.epitome import classifier
    from synthempathy.epitome.calibration import trained_identity
    from synthempathy.epitome.data import load_epitome

    from epitome_fixture import write_epitome_fixture

    calibration = CalibrationParams(classifier=ClassifierParams(min_df=1))
    classifier.save(classifier.train(load_epitome(write_epitome_fixture(tmp_path / "epitome"))[0], calibration),
                    tmp_path / "model.pkl")
    base = load_params(ROOT / "params.yaml")

    def params_with(judge: str):
        return base.model_copy(update={
            "calibration": calibration, "downstream": DownstreamParams(judge=judge),
            "judge": JudgeParams(classifier=str(tmp_path / "model.pkl"), encoder=str(tmp_path / "none.safetensors"))})

    sha = hashlib.sha256((tmp_path / "model.pkl").read_bytes()).hexdigest()
    calibrated = [{"judge": trained_identity("classifier", sha)}]
    chosen = choose_trained(params_with("auto"), calibrated)
    assert chosen is not None and chosen.provenance.scorer == "classifier"
    assert "no encoder judge (judge.encoder: " in capsys.readouterr().err
    assert choose_trained(params_with("auto"), []) is None  # trained, but not the calibrated file: the LLM judge
    assert "not the calibrated one" in capsys.readouterr().err
    assert choose_trained(params_with("classifier"), []).provenance.scorer == "classifier"  # named: used anyway
    assert choose_trained(params_with("llm"), calibrated) is None
    with pytest.raises(UserError, match=r"judge.encoder: .*none.safetensors not found"):
        choose_trained(params_with("encoder"), calibrated)
    answer = ModelAnswer(id="p1", source="held_out", category="work", explanation="x", model="tuned", response="y",
                         provenance=provenance())
    assert key_of(answer) == "tuned/p1"
