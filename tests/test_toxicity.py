"""Toxicity scorers, with the real models (no mocks).

The detoxify tests build a tiny checkpoint in detoxify's own on-disk format and load it
through the real ``detoxify.Detoxify`` class, offline.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import ValidationError

from synthempathy.quality.toxicity import (
    DETOXIFY_LABELS,
    DetoxifyScorer,
    ProfanityCheckScorer,
    ToxicityError,
    ToxicityParams,
    flag_toxic,
    make_scorer,
    write_hf_config_dir,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("detoxify")

# --- network watch: a real audit hook, records any DNS lookup / connect while armed ---
_NET_EVENTS: list[tuple[str, object]] = []
_ARMED = threading.Event()


def _audit(event: str, args: tuple) -> None:
    if _ARMED.is_set() and event in {"socket.getaddrinfo", "socket.connect"}:
        _NET_EVENTS.append((event, args[:2]))


sys.addaudithook(_audit)


@contextmanager
def no_network_used():
    _NET_EVENTS.clear()
    _ARMED.set()
    try:
        yield
    finally:
        _ARMED.clear()
    assert _NET_EVENTS == [], f"network was used: {_NET_EVENTS[:3]}"


# --- tiny detoxify checkpoint -------------------------------------------------------
LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *LETTERS, *(f"##{c}" for c in LETTERS), ".", ",", "!"]
# detoxify renames toxic/severe_toxic/identity_hate to toxicity/severe_toxicity/identity_attack
CKPT_CLASSES = ["toxic", "severe_toxic", "identity_hate"]
LABELS = ("toxicity", "severe_toxicity", "identity_attack")
TEXTS = [
    "I hear you, that sounds really hard.",
    "you are an idiot!",
    "x",
    "Thank you for telling me, I am here for you.",
    "",
    "what a terrible, awful, no good day",
    "ok",
]


def _tiny_bert_config(num_labels: int):
    return transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=num_labels,
        initializer_range=0.3,  # large enough that scores differ between texts
    )


def _write_hf_dir(path: Path, num_labels: int) -> Path:
    """A local HF config + tokenizer dir, as `save_pretrained` would write it."""
    path.mkdir(parents=True)
    (path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tok = transformers.BertTokenizer(vocab_file=str(path / "vocab.txt"), model_max_length=64)
    tok.save_pretrained(path)
    _tiny_bert_config(num_labels).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("detoxify")
    hf_dir = _write_hf_dir(root / "hf", num_labels=len(CKPT_CLASSES))
    with torch.random.fork_rng():
        torch.manual_seed(1234)
        model = transformers.BertForSequenceClassification(_tiny_bert_config(len(CKPT_CLASSES)))
    state_dict = {k: v.clone() for k, v in model.state_dict().items()}
    checkpoint = {
        "config": {
            "arch": {
                "args": {
                    # a Hub id, as in the released checkpoints: must not be looked up offline
                    "model_type": "bert-base-uncased",
                    "model_name": "BertForSequenceClassification",
                    "tokenizer_name": "BertTokenizer",
                    "num_classes": len(CKPT_CLASSES),
                }
            },
            "dataset": {"args": {"classes": CKPT_CLASSES}},
        },
        "state_dict": state_dict,
    }
    ckpt = root / "tiny.ckpt"
    torch.save(checkpoint, ckpt)
    return {"ckpt": ckpt, "hf": hf_dir, "root": root, "state_dict": state_dict}


def _detox_params(tiny, **kw) -> ToxicityParams:
    base = {
        "scorer": "detoxify",
        "checkpoint": str(tiny["ckpt"]),
        "huggingface_config_path": str(tiny["hf"]),
        "thresholds": {"toxicity": 0.5, "identity_attack": 0.6},
    }
    return ToxicityParams(**{**base, **kw})


def _reference_scores(tiny, texts):
    """Plain transformers forward pass on the saved weights (what detoxify should compute)."""
    model = transformers.BertForSequenceClassification(_tiny_bert_config(len(CKPT_CLASSES)))
    model.load_state_dict(tiny["state_dict"])
    model.eval()
    tok = transformers.BertTokenizer.from_pretrained(tiny["hf"])
    out = []
    with torch.no_grad():
        for text in texts:  # one at a time: no padding involved
            probs = torch.sigmoid(model(**tok([text], return_tensors="pt", truncation=True)).logits)[0]
            out.append(dict(zip(LABELS, probs.tolist(), strict=True)))
    return out


# --- profanity_check -----------------------------------------------------------------
def test_profanity_check_flags_offensive_keeps_kind():
    params = ToxicityParams()
    assert params.scorer == "profanity_check" and params.thresholds == {"offensive": 0.5}
    scorer = make_scorer(params)
    assert isinstance(scorer, ProfanityCheckScorer) and scorer.labels == ("offensive",)
    offensive = ["you are a fucking idiot", "shut up you stupid bitch", "this is bullshit, asshole"]
    kind = [
        "I'm so sorry you're going through this; it makes sense that you feel overwhelmed.",
        "Thank you for trusting me with this. Take all the time you need.",
        "It sounds like losing your job has been really painful.",
    ]
    scores = scorer.score(offensive + kind)
    assert len(scores) == 6 and all(set(s) == {"offensive"} for s in scores)
    assert all(0.0 <= s["offensive"] <= 1.0 for s in scores)
    assert all(s["offensive"] > 0.9 for s in scores[:3]), scores[:3]
    assert all(s["offensive"] < 0.2 for s in scores[3:]), scores[3:]
    flags = [flag_toxic(s, params.thresholds) for s in scores]
    assert [f is not None for f in flags] == [True] * 3 + [False] * 3
    assert flags[0][0] == "offensive" and flags[0][1] == scores[0]["offensive"]
    # batching does not change scores; empty input gives no rows
    small = ProfanityCheckScorer(batch_size=1).score(offensive + kind)
    assert all(abs(a["offensive"] - b["offensive"]) < 1e-12 for a, b in zip(small, scores, strict=True))
    assert scorer.score([]) == []


# --- detoxify, real offline path ---------------------------------------------------
def test_detoxify_tiny_checkpoint_offline(tiny):
    import detoxify

    with no_network_used():
        scorer = make_scorer(_detox_params(tiny, batch_size=3))
    assert isinstance(scorer, DetoxifyScorer)
    assert isinstance(scorer.load(), detoxify.Detoxify)  # the real library class
    assert scorer.labels == LABELS

    with no_network_used():
        first = scorer.score(TEXTS)
    second = scorer.score(TEXTS)
    assert len(first) == len(TEXTS)
    assert all(tuple(row) == LABELS for row in first)
    assert all(0.0 <= v <= 1.0 for row in first for v in row.values())
    assert first == second  # deterministic on CPU, bit for bit
    assert len({round(row["toxicity"], 6) for row in first}) > 3  # not a constant model

    for bs in (1, 2, 7, 32):  # bs=1 hits detoxify's squeezed single-item output
        other = DetoxifyScorer(
            checkpoint=str(tiny["ckpt"]), huggingface_config_path=str(tiny["hf"]), batch_size=bs
        ).score(TEXTS)
        for a, b in zip(first, other, strict=True):
            assert a.keys() == b.keys()
            assert all(abs(a[k] - b[k]) <= 1e-6 for k in a), (bs, a, b)

    # the checkpoint's weights are really used (not re-initialised): matches a plain forward pass
    for got, want in zip(first, _reference_scores(tiny, TEXTS), strict=True):
        assert all(abs(got[k] - want[k]) <= 1e-5 for k in LABELS), (got, want)

    flagged = [flag_toxic(row, {"toxicity": 0.0}) for row in first]
    assert all(f is not None and f[0] == "toxicity" and f[1] == row["toxicity"] for f, row in zip(flagged, first))


def test_detoxify_unknown_label_for_checkpoint_is_rejected_at_load(tiny):
    with pytest.raises(ToxicityError, match="'sexual_explicit'.*outputs: toxicity, severe_toxicity, identity_attack"):
        make_scorer(_detox_params(tiny, thresholds={"sexual_explicit": 0.5}))


def test_detoxify_missing_checkpoint_names_path(tmp_path):
    missing = tmp_path / "nope" / "toxic_original.ckpt"
    params = ToxicityParams(scorer="detoxify", checkpoint=str(missing))
    with no_network_used(), pytest.raises(ToxicityError) as err:
        make_scorer(params)  # raises: no fallback to profanity_check
    msg = str(err.value)
    assert str(missing) in msg and "\n" not in msg
    assert "filter.toxicity.checkpoint" in msg


def test_detoxify_hf_dir_without_config_is_rejected(tiny, tmp_path):
    with pytest.raises(ToxicityError, match=f"no config.json: {tmp_path}"):
        make_scorer(_detox_params(tiny, huggingface_config_path=str(tmp_path)))


def test_detoxify_without_checkpoint_offline_fails_fast_with_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # empty torch hub cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    params = ToxicityParams(scorer="detoxify", model="original")
    assert params.thresholds == {"toxicity": 0.5}
    with no_network_used(), pytest.raises(ToxicityError) as err:
        make_scorer(params)
    msg = str(err.value)
    assert "\n" not in msg
    assert "toxic_original-c1212f89.ckpt" in msg  # what it would have downloaded
    assert "filter.toxicity.checkpoint" in msg and "filter.toxicity.huggingface_config_path" in msg
    assert "synthempathy export-detoxify --model original" in msg


def _github_unreachable() -> bool:
    result: list[bool] = []

    def probe():
        try:
            socket.getaddrinfo("github.com", 443)
            result.append(False)
        except OSError:
            result.append(True)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(3)
    return bool(result and result[0])


def test_detoxify_without_checkpoint_real_download_failure(tmp_path, monkeypatch):
    """The real torch.hub download, on a machine where github.com does not resolve."""
    if not _github_unreachable():
        pytest.skip("github.com resolves here; would download a 400 MB checkpoint")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    with pytest.raises(ToxicityError) as err:
        make_scorer(ToxicityParams(scorer="detoxify", model="unbiased-small"))
    msg = str(err.value)
    assert "model 'unbiased-small' (needs download)" in msg and "URLError" in msg
    assert "filter.toxicity.checkpoint" in msg and "\n" not in msg


def test_write_hf_config_dir_fixes_num_labels(tiny, tmp_path):
    # A Hub-like snapshot of the base model has the default 2-label head ...
    source = _write_hf_dir(tmp_path / "bert-snapshot", num_labels=2)
    with pytest.raises(ToxicityError, match="num_labels=2 but the checkpoint head has 3 classes"):
        make_scorer(_detox_params(tiny, huggingface_config_path=str(source)))
    # ... the export helper writes the checkpoint's label count, and that dir loads.
    fixed = write_hf_config_dir(tiny["ckpt"], tmp_path / "fixed", source=str(source))
    assert len(json.loads((fixed / "config.json").read_text())["id2label"]) == 3
    assert transformers.BertConfig.from_pretrained(fixed).num_labels == 3
    with no_network_used():
        scores = make_scorer(_detox_params(tiny, huggingface_config_path=str(fixed))).score(TEXTS[:2])
    assert tuple(scores[0]) == LABELS and all(0.0 <= v <= 1.0 for v in scores[1].values())


# --- params and flag_toxic -----------------------------------------------------------
def test_thresholds_unknown_label_rejected():
    with pytest.raises(ValidationError, match="unknown label.*'toxicity'.*profanity_check.*offensive"):
        ToxicityParams(thresholds={"toxicity": 0.5})
    with pytest.raises(ValidationError, match="'sexual_explicit'.*detoxify model 'original'"):
        ToxicityParams(scorer="detoxify", thresholds={"toxicity": 0.5, "sexual_explicit": 0.5})
    ok = ToxicityParams(scorer="detoxify", model="unbiased", thresholds={"sexual_explicit": 0.7})
    assert ok.thresholds == {"sexual_explicit": 0.7}
    assert set(DETOXIFY_LABELS["original"]) < set(DETOXIFY_LABELS["unbiased"])


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"thresholds": {"offensive": 1.5}}, "less than or equal to 1"),
        ({"thresholds": {}}, "enabled: false"),
        ({"batch_size": 0}, "greater than or equal to 1"),
        ({"model": "huge"}, "unknown detoxify model 'huge'"),
        ({"scorer": "perspective"}, "profanity_check"),
        ({"threshold": 0.5}, "Extra inputs are not permitted"),
    ],
)
def test_params_validation(kw, needle):
    with pytest.raises(ValidationError, match=needle):
        ToxicityParams(**kw)


def test_params_defaults():
    p = ToxicityParams.model_validate({})
    assert (p.enabled, p.scorer, p.model, p.checkpoint, p.huggingface_config_path, p.device, p.batch_size) == (
        True, "profanity_check", "original", None, None, "cpu", 32,
    )
    assert ToxicityParams(scorer="detoxify").thresholds == {"toxicity": 0.5}


def test_flag_toxic_picks_worst_label_over_threshold():
    scores = {"toxicity": 0.55, "insult": 0.91, "threat": 0.97, "obscene": 0.2}
    # threat has the highest score but is under its own threshold
    thresholds = {"toxicity": 0.5, "insult": 0.9, "threat": 0.99, "obscene": 0.1}
    assert flag_toxic(scores, thresholds) == ("insult", 0.91)
    assert flag_toxic(scores, {"threat": 0.97}) == ("threat", 0.97)  # >= threshold counts
    assert flag_toxic(scores, {"toxicity": 0.6, "threat": 0.98}) is None
    assert flag_toxic({"a": 0.8, "b": 0.8}, {"b": 0.5, "a": 0.5}) == ("a", 0.8)  # ties: by name
    with pytest.raises(ToxicityError, match="'severe_toxicity' missing"):
        flag_toxic(scores, {"severe_toxicity": 0.5})


def test_import_is_lazy():
    code = (
        "import sys, synthempathy.quality.toxicity as t; t.ToxicityParams(); "
        "print(sorted(m for m in ('torch', 'detoxify', 'transformers', 'profanity_check') if m in sys.modules))"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONPATH": src}
    )
    assert out.stdout.strip() == "[]"
