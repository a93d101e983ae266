"""The downstream pipeline with the real embedded model: `dvc repro downstream/dvc.yaml` on a few
hand-written pairs, llama.cpp applying the converted adapter as peft does, the bad inputs, and Ctrl-C
during training."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from synthempathy.core.jsonl import read_records, write_records
from synthempathy.core.records import AnswerScore, Explanation, HeldOutPrompt, ModelAnswer, Pair

from conftest import ROOT
from dvc_project import Project, copy_files, stage_command
from test_calibration import SHARED, needs_epitome
from tiny_causal_lm import write_gguf_header

pytestmark = pytest.mark.model
torch = pytest.importorskip("torch")
pytest.importorskip("peft")

SANITY = ROOT / "tests/data/downstream_sanity.jsonl"


def sanity_rows() -> list[dict]:
    return [json.loads(line) for line in SANITY.read_text(encoding="utf-8").splitlines()]


def corpus_of(rows: list[dict], reply: str) -> tuple[list[Pair], list[Explanation]]:
    """The hand-written rows as corpus pairs (with the `reply` kind of response) and explanations."""
    explanations = [Explanation(id=r["id"], seed_id=r["seed_id"], category=r["category"],
                                situation=r["explanation"].split(".")[0], story=r["explanation"],
                                explanation=r["explanation"], provenance={}) for r in rows]
    pairs = [Pair(**e.model_dump(), response=r[reply]) for e, r in zip(explanations, rows)]
    return pairs, explanations


def folder_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    """A git + DVC project holding downstream/dvc.yaml and 12 warm pairs (one per seed) as its corpus,
    reproduced once with the embedded model at a small size."""
    root = tmp_path_factory.mktemp("downstream")
    project = Project(root / "p", root / "cache")
    copy_files(project.path, ["downstream/dvc.yaml", "params.yaml", ".dvcignore", "prompts", "stages", "src",
                              "calibration/calibrated_judges.json"])
    pairs, explanations = corpus_of(sanity_rows()[:12], "warm")
    write_records(project.path / "data/corpus/corpus.jsonl", pairs)
    write_records(project.path / "data/explanations/explanations.jsonl", explanations)

    def small(data: dict) -> None:
        data["llm"]["n_threads"] = 2
        data["downstream"].update(held_out_share=0.34, max_prompts=3, judge="llm")
        data["downstream"]["train"].update(max_length=192, batch_size=4)
        data["downstream"]["generate"]["max_tokens"] = 32

    project.edit_params(small)
    project.run("git", "init", "-q")
    project.dvc("init", "-q")
    project.commit("downstream project")
    project.dvc("repro", "downstream/dvc.yaml")
    return project


def test_dvc_repro_fine_tunes_answers_scores_and_then_has_nothing_to_do(project):
    path = project.path
    train = read_records(path / "data/downstream/train.jsonl", Pair)
    prompts = [json.loads(line) for line in (path / "data/downstream/prompts.jsonl").read_text().splitlines()]
    assert len(prompts) == 3 and {p["id"].rsplit("-", 1)[0] for p in prompts}.isdisjoint({p.seed_id for p in train})
    assert len(train) == 8  # 12 pairs of 12 seeds, 4 held out
    answers = read_records(path / "data/downstream/responses.jsonl", ModelAnswer)
    assert [a.model for a in answers] == ["base"] * 3 + ["tuned"] * 3
    assert answers[0].provenance.backend.adapter_sha256 is None
    adapter = path / "data/downstream/adapter"
    assert answers[3].provenance.backend.adapter_sha256 == hashlib.sha256(
        (adapter / "adapter.gguf").read_bytes()).hexdigest()
    assert [a.response for a in answers[:3]] != [a.response for a in answers[3:]]
    training = json.loads((adapter / "training.json").read_text())
    assert training["base"]["name"] == "gemma-3-270m-q4_k_m.gguf" and training["pairs"] == 8
    scores = read_records(path / "data/downstream/scores.jsonl", AnswerScore)
    metrics = json.loads((path / "metrics/downstream.json").read_text())
    both = {s.id for s in scores if s.model == "base"} & {s.id for s in scores if s.model == "tuned"}
    assert metrics["train_pairs"] == 8 and metrics["held_out"]["prompts"] == len(both) >= 2
    tuned = [s for s in scores if s.model == "tuned" and s.id in both]
    assert metrics["held_out"]["tuned"]["ER"]["mean"] == pytest.approx(
        sum(s.emotional_reaction for s in tuned) / len(tuned), abs=1e-4)
    loss = (path / "plots/downstream_loss.csv").read_text().splitlines()
    assert loss[0] == "step,loss" and len(loss) == 1 + training["steps"] == 3  # 8 pairs, batch 4, 1 epoch
    again = project.dvc("repro", "downstream/dvc.yaml")
    assert "Data and pipelines are up to date" in again.stdout + again.stderr
    shown = json.loads(project.dvc("metrics", "show", "--json").stdout)
    assert "held_out" in json.dumps(shown)


def test_llama_cpp_applies_the_converted_adapter_as_peft_does(project, tmp_path):
    """A random (not trained) LoRA on every projection, converted to GGUF: the change it makes to the
    next-token logits in llama.cpp must match the change peft makes in transformers."""
    import numpy as np
    from llama_cpp import Llama
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from synthempathy.downstream import lora_gguf
    from synthempathy.generation.llm import amx_workaround
    from synthempathy.generation.models import resolve_model

    base_dir = project.path / "data/downstream/base"
    gguf = resolve_model("embedded").path
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    text = "User: I missed the bus again and my boss was angry.\nAssistant:\n"
    ids = tokenizer(text)["input_ids"]
    with torch.no_grad():
        hf_base = model(torch.tensor([ids])).logits[0, -1].numpy()
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                              "up_proj", "down_proj"], init_lora_weights=False)
    tuned = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in tuned.named_parameters():
            if "lora_B" in name:
                param.mul_(0.05)  # a change of the size training makes, not one that swamps the model
        hf_tuned = tuned(torch.tensor([ids])).logits[0, -1].numpy()
    tuned.save_pretrained(tmp_path / "adapter")
    lora_gguf.convert(tmp_path / "adapter", gguf, tmp_path / "adapter.gguf")

    def llama_logits(**kwargs) -> np.ndarray:
        with amx_workaround.load_context(amx_workaround.decide_here("auto")):  # AMX CPUs crash otherwise
            llm = Llama(model_path=str(gguf), n_ctx=256, n_threads=2, verbose=False, **kwargs)
        tokens = llm.tokenize(text.encode(), add_bos=True, special=True)
        assert tokens == ids  # transformers' converted tokenizer and llama.cpp's agree
        llm.eval(tokens)
        out = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()  # the last token's
        llm.close()
        return out

    cpp_base, cpp_tuned = llama_logits(), llama_logits(lora_path=str(tmp_path / "adapter.gguf"))
    assert np.corrcoef(hf_base, cpp_base)[0, 1] > 0.99  # the same weights, de-quantized
    hf_delta, cpp_delta = hf_tuned - hf_base, cpp_tuned - cpp_base
    assert np.abs(hf_delta).mean() > 0.1  # the adapter does change the logits
    assert np.corrcoef(hf_delta, cpp_delta)[0, 1] > 0.9


def stage(project: Project, name: str) -> subprocess.CompletedProcess:
    return project.run(*stage_command(name, "downstream/dvc.yaml"), check=False)


def test_bad_input_is_one_line_naming_the_param_and_loses_nothing(project, tmp_path):
    project.env["PYTHONPATH"] = "src"
    responses = (project.path / "data/downstream/responses.jsonl").read_bytes()
    original = (project.path / "params.yaml").read_text()
    other = write_gguf_header(tmp_path / "other.gguf")
    cases = [
        ({"base_model": str(other)}, "generate",
         r"^error: params.yaml: downstream.base_model: data/downstream/adapter was trained on gemma-3-270m-q4_k_m.gguf"),
        ({"base_model": str(tmp_path / "missing.gguf")}, "generate",
         r"^error: params.yaml: downstream.base_model: '.*missing.gguf' does not exist"),
        ({"device": "tpu"}, "train", r"^error: params.yaml:\d+: downstream.device: Input should be 'auto', 'cpu' or 'cuda'"),
    ]
    try:
        for update, name, expected in cases:
            project.edit_params(lambda data: data["downstream"].update(update))
            proc = stage(project, name)
            assert proc.returncode == 2, proc.stderr
            assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
            assert re.search(expected, proc.stderr), proc.stderr
            (project.path / "params.yaml").write_text(original)
    finally:
        (project.path / "params.yaml").write_text(original)
    assert (project.path / "data/downstream/responses.jsonl").read_bytes() == responses


def test_ctrl_c_during_training_leaves_the_previous_adapter_whole(project):
    adapter = project.path / "data/downstream/adapter"
    before = folder_digest(adapter)
    env = {**project.env, "PYTHONPATH": "src", "PYTHONUNBUFFERED": "1"}
    # a terminal's Ctrl-C reaches a stage whose SIGINT is at its default; whatever the test process's own
    # disposition is must not leak in (an ignored SIGINT is inherited, and Python then never raises
    # KeyboardInterrupt: in the whole suite the stage trained to the end and exited 0)
    proc = subprocess.Popen(stage_command("train", "downstream/dvc.yaml"), cwd=project.path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = ""
    deadline = time.monotonic() + 300
    while "train:" not in seen and time.monotonic() < deadline:
        seen += os.read(proc.stderr.fileno(), 4096).decode(errors="replace")
    assert "train:" in seen, seen
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 130, seen + rest
    assert "interrupted" in rest
    assert folder_digest(adapter) == before
    assert not (project.path / "data/downstream/.adapter.tmp").exists()


@needs_epitome
def test_the_measurement_sees_warm_training_raise_er_and_ex_and_curt_training_not(project, tmp_path):
    """The sanity check: the embedded model fine-tuned on plainly warm replies that ask about feelings
    must gain ER and EX over the untuned model on held-out prompts; fine-tuned on curt practical
    advice, it must not. Scored by the classifier judge trained on EPITOME dev, as the calibration
    pipeline trains it (it tells the hand-written warm and curt replies apart: ER 0.97 against 0.03)."""
    from synthempathy.core.params import CalibrationParams, DownstreamParams, load_params
    from synthempathy.downstream.answer import answer
    from synthempathy.downstream.base_model import resolve_base
    from synthempathy.downstream.lora_gguf import convert
    from synthempathy.downstream.train import train_lora
    from synthempathy.epitome import classifier
    from synthempathy.epitome.data import load_epitome, split_by_seeker
    from synthempathy.generation.prompts import load_template

    rows = sanity_rows()
    held = {r["seed_id"] for r in rows if r["seed_id"].endswith("-d")}  # one seed in four: 9 prompts
    train_rows = [r for r in rows if r["seed_id"] not in held]
    prompts = [HeldOutPrompt(id=r["id"], source="held_out", category=r["category"], explanation=r["explanation"])
               for r in rows if r["seed_id"] in held]
    base_dir = project.path / "data/downstream/base"
    source = resolve_base("embedded")
    template = load_template(ROOT / "prompts/downstream.txt", {"explanation"})
    downstream = DownstreamParams.model_validate({
        "device": "cpu", "train": {"epochs": 3, "learning_rate": 1e-3, "batch_size": 4, "max_length": 192},
        "generate": {"max_tokens": 48}})
    params = load_params(ROOT / "params.yaml")
    params = params.model_copy(update={"downstream": downstream,
                                       "llm": params.llm.model_copy(update={"n_threads": 2})})
    calibration = CalibrationParams()
    dev, _ = split_by_seeker(load_epitome(SHARED)[0], calibration.dev_share, calibration.seed)
    judge = classifier.train(dev, calibration)

    def means(kind: str) -> dict[str, dict[str, float]]:
        adapter = tmp_path / kind
        train_lora(base_dir, [(r["explanation"], r[kind]) for r in train_rows], template, downstream, adapter)
        convert(adapter, Path(source.path), adapter / "adapter.gguf")
        answers = answer(prompts, params, source, base_dir, adapter, "cpu")
        levels = classifier.predict(judge, [a.explanation for a in answers], [a.response for a in answers])
        return {model: {m: sum(v for v, a in zip(levels[m], answers) if a.model == model) / len(prompts)
                        for m in ("emotional_reaction", "exploration")} for model in ("base", "tuned")}

    warm, curt = means("warm"), means("curt")
    print(f"\nsanity (classifier judge, {len(prompts)} prompts): warm {warm}; curt {curt}")  # benchmarks/DOWNSTREAM.md
    assert warm["base"] == curt["base"]  # the same untuned answers, from the request cache
    for m in ("emotional_reaction", "exploration"):
        assert warm["tuned"][m] > warm["base"][m], (m, warm)
        assert curt["tuned"][m] <= curt["base"][m], (m, curt)
