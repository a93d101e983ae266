"""Calibration against EPITOME's human labels: loading, split, classifier, metrics, the DVC pipeline.

Code paths run on a small EPITOME-shaped fixture written for this project
(tests/epitome_fixture.py). Tests marked `epitome` also read the real data from
../shared/epitome-data, which is research-only and never copied into the repo;
where it is absent (a user's clone) they skip with the reason.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from synthempathy.card import judge_trust
from synthempathy.epitome import classifier
from synthempathy.epitome.agreement import quadratic_weighted_kappa
from synthempathy.epitome.calibration import (calibrated_judges, calibration_metrics, calibration_metrics_of,
                                      calibration_of, judge_identity, majority_levels)
from synthempathy.core.errors import UserError
from synthempathy.core.hashing import file_sha256
from synthempathy.core.params import CalibrationParams, ClassifierParams, JudgeParams
from synthempathy.core.paths import SYNTHETIC_LABELS
from synthempathy.core.jsonl import read_records
from synthempathy.core.records import ClassifierProvenance, EpitomeExample, Judgement, Pair, Provenance
from synthempathy.epitome.data import EPITOME_FILES as FILES, load_epitome, sample, split_by_seeker
from synthempathy.epitome.trained import judge_pairs
from synthempathy.epitome.scores import MECHANISMS

from conftest import ROOT
from dvc_project import make_project
from epitome_fixture import write_epitome_fixture
from fakes import provenance

SHARED = ROOT.parent / "shared" / "epitome-data"
needs_epitome = pytest.mark.skipif(not (SHARED / FILES["exploration"]).is_file(),
                                   reason=f"EPITOME data not at {SHARED} (research-only; see README to fetch it)")


@pytest.fixture
def fixture_dir(tmp_path):
    return write_epitome_fixture(tmp_path / "epitome")


def test_fixture_loads_with_repeats_collapsed_and_conflicts_dropped(fixture_dir):
    pairs, conflicts = load_epitome(fixture_dir)
    assert conflicts == 1
    assert len(pairs) == 48 - 1  # 24 posts x 2 responses, the conflicting pair dropped, the agreeing repeat once
    assert len({p.id for p in pairs}) == len(pairs)
    first = pairs[0]
    assert first.id == "s00-r000" and first.seeker_id == "s00"
    assert (first.emotional_reaction, first.interpretation, first.exploration) == (2, 0, 2)


def test_bad_files_are_one_line_errors_naming_file_and_line(fixture_dir, tmp_path):
    with pytest.raises(UserError, match="EPITOME directory not found; fetch EPITOME"):
        load_epitome(tmp_path / "nowhere")
    path = fixture_dir / FILES["interpretation"]
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[3][4] = "3"  # the level of the third pair, on line 4
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(UserError, match=r"interpretations-reddit\.csv:4: level must be 0, 1 or 2, not '3'"):
        load_epitome(fixture_dir)
    path.write_text("sp_id,rp_id,level\n")
    with pytest.raises(UserError, match=r"interpretations-reddit\.csv:1: missing column\(s\) seeker_post, response_post"):
        load_epitome(fixture_dir)
    path.unlink()
    with pytest.raises(UserError, match="interpretations-reddit.csv: EPITOME file not found"):
        load_epitome(fixture_dir)


def test_split_keeps_each_seeker_post_on_one_side_and_is_stable(fixture_dir):
    pairs, _ = load_epitome(fixture_dir)
    dev, test = split_by_seeker(pairs, 0.5, seed=7)
    assert not {p.seeker_id for p in dev} & {p.seeker_id for p in test}
    assert sorted(p.id for p in dev + test) == sorted(p.id for p in pairs)
    assert 0 < len(dev) < len(pairs)
    again = split_by_seeker(list(reversed(pairs)), 0.5, seed=7)  # file order does not matter
    assert sorted(p.id for p in again[0]) == sorted(p.id for p in dev)
    assert sorted(p.id for p in split_by_seeker(pairs, 0.5, seed=8)[0]) != sorted(p.id for p in dev)


def test_a_larger_sample_keeps_every_pair_of_a_smaller_one(fixture_dir):
    pairs, _ = load_epitome(fixture_dir)
    small, large = sample(pairs, 5, seed=1), sample(pairs, 20, seed=1)
    assert [p.id for p in large[:5]] == [p.id for p in small]
    assert len(sample(pairs, None, seed=1)) == len(pairs)


def test_classifier_learns_the_fixture_wording_and_round_trips(fixture_dir, tmp_path):
    pairs, _ = load_epitome(fixture_dir)
    bundle = classifier.train(pairs, CalibrationParams(classifier=ClassifierParams(min_df=1)))
    levels = classifier.predict(bundle, ["I lost my job"] * 2,
                                ["I am so sorry, that sounds really painful. What happened after you lost it?",
                                 "Just get over it, everyone lost a job at some point."])
    assert levels["emotional_reaction"] == [2, 0] and levels["exploration"] == [2, 0]
    classifier.save(bundle, tmp_path / "model.pkl")
    assert classifier.predict(classifier.load(tmp_path / "model.pkl"), ["x"], ["sorry to hear that"]) == \
        classifier.predict(bundle, ["x"], ["sorry to hear that"])
    (tmp_path / "other.pkl").write_bytes(b"\x80\x05N.")  # a pickled None
    with pytest.raises(UserError, match="other.pkl was not written by this version of synthempathy"):
        classifier.load(tmp_path / "other.pkl")
    with pytest.raises(UserError, match=r"judge.classifier: \S+missing.pkl not found; train it with `dvc repro calibration"):
        classifier.load(tmp_path / "missing.pkl")


def test_the_same_training_writes_the_same_file_bytes_in_every_process(fixture_dir, tmp_path):
    """The file's sha256 is the classifier judge's identity, so it must not change between runs."""
    script = ("import sys; from synthempathy.epitome import classifier, data; from synthempathy.core.params import "
              "CalibrationParams; pairs, _ = data.load_epitome(sys.argv[1]); "
              "classifier.save(classifier.train(pairs, CalibrationParams()), sys.argv[2])")
    for seed in ("1", "2"):
        subprocess.run([sys.executable, "-c", script, str(fixture_dir), str(tmp_path / f"{seed}.pkl")], check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT / "src")})
    assert (tmp_path / "1.pkl").read_bytes() == (tmp_path / "2.pkl").read_bytes()


def corpus_pair(pid: str, response: str) -> Pair:
    return Pair(id=pid, seed_id="work-0", category="work", situation="s", story="t", explanation="I lost my job today.",
                emotion="fear", cause="no income", response=response, provenance={})


def test_classifier_judges_corpus_pairs_and_refuses_one_trained_with_other_params(fixture_dir, tmp_path):
    pairs, _ = load_epitome(fixture_dir)
    calibration = CalibrationParams(classifier=ClassifierParams(min_df=1))
    classifier.save(classifier.train(pairs, calibration), tmp_path / "model.pkl")
    corpus = [corpus_pair("a", "I am so sorry, that sounds really painful. What happened after you lost it?"),
              corpus_pair("b", "Just get over it, everyone lost a job at some point.")]
    judge = JudgeParams(scorer="classifier", classifier=str(tmp_path / "model.pkl"))
    judged = judge_pairs(corpus, judge, calibration, source="corpus.jsonl")
    assert [(j.id, j.emotional_reaction, j.exploration) for j in judged] == [("a", 2, 2), ("b", 0, 0)]
    provenance = judged[0].provenance
    assert provenance.scorer == "classifier" and provenance.training["dev_pairs"] == len(pairs)
    assert provenance.model_sha256 == file_sha256(tmp_path / "model.pkl")
    assert Judgement.model_validate_json(judged[0].model_dump_json()) == judged[0]  # the union round-trips
    with pytest.raises(UserError, match=r"model.pkl was trained with .*'c': 4.0.*now says .*'c': 2.0.*re-run `dvc repro calibration"):
        judge_pairs(corpus, judge, CalibrationParams(classifier=ClassifierParams(min_df=1, c=2.0)), source="corpus.jsonl")


def llm_provenance(prompt_sha256: str = "p" * 64, seed: int = 1) -> Provenance:
    return provenance(backend={"model_sha256": "m" * 64, "batch_rows": 8}, prompt="prompts/judge.txt",
                      prompt_sha256=prompt_sha256, prompt_format="chat", grammar_sha256="g" * 64,
                      sampling={"temperature": 0.3}, seed=seed, completion_tokens=20)


def judged_by(*provenances) -> list[Judgement]:
    return [Judgement(id=str(i), category="work", emotional_reaction=1, interpretation=1, exploration=1,
                      provenance=p) for i, p in enumerate(provenances)]


def test_scores_are_matched_to_the_calibration_of_the_judge_that_made_them():
    figures = {s: {"n": 150, "qwk": q} for s, q in (("ER", 0.1), ("IP", 0.2), ("EX", 0.3))}
    all_test = {s: {"n": 1464, "qwk": q} for s, q in (("ER", 0.5), ("IP", 0.6), ("EX", 0.7))}
    synthetic = {s: {"n": 81, "qwk": q} for s, q in (("ER", 0.05), ("IP", 0.15), ("EX", 0.25))}
    metrics = {"llm": figures, "classifier_all_test": all_test, "encoder_all_test": figures,
               "synthetic": {"llm": synthetic, "classifier": figures, "encoder": all_test}}
    calibrated = calibrated_judges(metrics, llm_provenance(), {"classifier": "c" * 64, "encoder": "e" * 64})
    assert calibrated[0] == {"judge": judge_identity(llm_provenance()), "test_pairs": 150,
                             "qwk": {"ER": 0.1, "IP": 0.2, "EX": 0.3}, "synthetic_pairs": 81,
                             "synthetic_qwk": {"ER": 0.05, "IP": 0.15, "EX": 0.25}}
    assert calibrated[2] == {"judge": {"scorer": "encoder", "model_sha256": "e" * 64}, "test_pairs": 150,
                             "qwk": {"ER": 0.1, "IP": 0.2, "EX": 0.3}, "synthetic_pairs": 1464,
                             "synthetic_qwk": {"ER": 0.5, "IP": 0.6, "EX": 0.7}}
    # seeds and batch rows differ between answers of one judge; the judge is the same
    same_judge = judged_by(llm_provenance(seed=5), llm_provenance(seed=9).model_copy(update={"batch_rows": None}))
    assert calibration_metrics_of(calibration_of(same_judge, calibrated)) == \
        {"calibrated": 1, "test_pairs": 150, "ER_qwk": 0.1, "IP_qwk": 0.2, "EX_qwk": 0.3,
         "ER_synthetic_qwk": 0.05, "IP_synthetic_qwk": 0.15, "EX_synthetic_qwk": 0.25}
    encoder_judged = ClassifierProvenance(scorer="encoder", model="enc", model_sha256="e" * 64, training={})
    assert calibration_of(judged_by(encoder_judged), calibrated)["synthetic_qwk"]["EX"] == 0.7
    assert "trained sentence-encoder judge that produced the EPITOME scores above agrees with EPITOME's human labels " \
           "on 150 held-out Reddit pairs with quadratic weighted kappa ER 0.10, IP 0.20, EX 0.30" in \
           judge_trust(judged_by(encoder_judged), None, calibrated)
    assert "On 1464 hand-labelled synthetic pairs written like this corpus's (long responses), its quadratic " \
           "weighted kappa is ER 0.50, IP 0.60, EX 0.70." in judge_trust(judged_by(encoder_judged), None, calibrated)
    trained = ClassifierProvenance(model="clf", model_sha256="c" * 64, training={})
    assert calibration_of(judged_by(trained), calibrated)["qwk"]["EX"] == 0.7
    other_prompt = judged_by(llm_provenance(prompt_sha256="q" * 64))
    mixed = judged_by(llm_provenance(), llm_provenance(prompt_sha256="q" * 64))
    for judgements in (other_prompt, mixed, [], judged_by(trained.model_copy(update={"model_sha256": "d" * 64}))):
        assert calibration_of(judgements, calibrated) is None
    assert calibration_metrics_of(None) == {"calibrated": 0}
    assert judge_trust(other_prompt, None, calibrated).startswith("**Judge not calibrated.**")
    assert "trained classifier that produced the EPITOME scores above agrees with EPITOME's human labels on 1464 " \
           "held-out Reddit pairs with quadratic weighted kappa ER 0.50, IP 0.60, EX 0.70" in \
           judge_trust(judged_by(trained), "2026-11-26, commit abc1234", calibrated)


def test_metrics_compare_every_judge_on_the_pairs_the_llm_scored(fixture_dir):
    pairs, _ = load_epitome(fixture_dir)
    dev, test, synthetic = pairs[:20], pairs[20:43], pairs[43:]
    humans = {p.id: {m: getattr(p, m) for m in MECHANISMS} for p in test + synthetic}
    llm = {pid: {m: 1 for m in MECHANISMS} for pid in [p.id for p in test[:10] + synthetic]}  # always says 1
    flipped = {pid: {m: 2 - level for m, level in levels.items()} for pid, levels in humans.items()}
    out = calibration_metrics(dev, test, synthetic, {"llm": llm, "classifier": humans, "encoder": flipped},
                              llm_failed=2, split={"dev": 20, "test": len(test)}, seed=1)
    assert out["llm"]["failed"] == 2 and out["llm"]["ER"]["n"] == 10
    assert out["llm"]["ER"]["qwk"] == 0.0 and out["llm"]["ER"]["judge_distribution"] == [0.0, 1.0, 0.0]
    assert out["classifier"]["IP"]["qwk"] == 1.0 and out["classifier"]["IP"]["n"] == 10  # same pairs as the llm
    assert out["classifier_all_test"]["EX"] == {"n": len(test), "accuracy": 1.0, "macro_f1": 1.0, "qwk": 1.0,
                                                "qwk_low": 1.0, "qwk_high": 1.0}
    human_er = [p.emotional_reaction for p in test]
    assert out["encoder_all_test"]["ER"]["qwk"] == round(quadratic_weighted_kappa(human_er, [2 - h for h in human_er]), 4)
    assert out["encoder_all_test"]["ER"]["qwk_low"] <= out["encoder_all_test"]["ER"]["qwk"] <= \
        out["encoder_all_test"]["ER"]["qwk_high"]
    assert out["synthetic"]["llm"]["EX"]["n"] == len(synthetic) and out["synthetic"]["classifier"]["EX"]["qwk"] == 1.0
    majority = majority_levels(dev)
    assert out["majority"]["ER"]["level"] == majority["emotional_reaction"]


@needs_epitome
def test_real_epitome_split_has_no_leak_and_the_classifier_beats_chance():
    pairs, conflicts = load_epitome(SHARED)
    assert len(pairs) == 3004 and conflicts == 19
    dev, test = split_by_seeker(pairs, 0.5, seed=2025)
    assert not {p.seeker_id for p in dev} & {p.seeker_id for p in test}
    bundle = classifier.train(dev, CalibrationParams())
    levels = classifier.predict(bundle, [p.seeker_post for p in test], [p.response_post for p in test])
    for m in MECHANISMS:
        qwk = quadratic_weighted_kappa([getattr(p, m) for p in test], levels[m])
        assert qwk > 0.3, (m, qwk)  # measured: see benchmarks/CALIBRATION.md


def copy_epitome(data_dir, target, rows: int | None = None) -> None:
    """EPITOME's three CSVs into `target` (a throwaway project, never the repository); with `rows`,
    only the first so many rows of each (the three files list the same pairs in the same order)."""
    target.mkdir(parents=True)
    for name in FILES.values():
        if rows is None:
            shutil.copy(data_dir / name, target / name)
            continue
        with (data_dir / name).open(newline="", encoding="utf-8") as src, \
                (target / name).open("w", newline="", encoding="utf-8") as dst:
            reader, writer = csv.reader(src), csv.writer(dst)
            writer.writerows(row for _, row in zip(range(rows + 1), reader))


def calibration_project(tmp_path, data_dir, rows: int | None = None):
    project = make_project(tmp_path / "project", tmp_path / "cache")
    shutil.copytree(ROOT / "calibration", project.path / "calibration", dirs_exist_ok=True)
    copy_epitome(data_dir, project.path / "data" / "epitome", rows)
    project.edit_params(lambda d: d["calibration"].update(sample=10, encoder={"epochs": 1}))
    synthetic = (ROOT / SYNTHETIC_LABELS).read_text().splitlines()
    (project.path / SYNTHETIC_LABELS).parent.mkdir(parents=True)
    (project.path / SYNTHETIC_LABELS).write_text("\n".join(synthetic[::20]) + "\n")  # 5 of them: a quick LLM judge
    project.edit_params(lambda d: d["filter"]["gates"].update(enabled=False))  # a corpus to judge, whatever it says
    return project


def run_calibration(project) -> dict:
    out = project.dvc("repro", "calibration/dvc.yaml")
    assert "calibration QWK on EPITOME test: classifier ER" in out.stdout + out.stderr
    return json.loads((project.path / "metrics" / "judge_calibration.json").read_text())


@pytest.mark.model
def test_calibration_pipeline_end_to_end_on_the_fixture(tmp_path, fixture_dir):
    project = calibration_project(tmp_path, fixture_dir)
    project.edit_params(lambda d: d["calibration"].update(dev_share=0.6, classifier={"c": 4.0, "min_df": 1}))
    metrics = run_calibration(project)
    judged = metrics["llm"]["ER"]["n"] + metrics["llm"]["failed"]
    assert judged == 10 and metrics["classifier"]["ER"]["n"] == metrics["llm"]["ER"]["n"]
    assert metrics["split"]["dev"] + metrics["split"]["test"] == 47
    for name in ("llm_ER", "classifier_EX"):
        rows = (project.path / "plots" / "calibration" / f"{name}.csv").read_text().splitlines()
        assert rows[0] == "human,judge" and len(rows) == 1 + metrics["llm"]["ER"]["n"]
    assert "didn't change" in project.dvc("repro", "calibration/dvc.yaml").stdout  # nothing re-runs
    # the corpus pipeline does not depend on calibration, and calibration data never reaches a remote
    assert "calibration" not in project.dvc("dag", "dvc.yaml").stdout
    shown = project.dvc("plots", "show", "calibration/dvc.yaml", "--json").stdout
    assert "llm_IP.csv" in shown
    check_scores_carry_their_calibration(project, metrics)


def check_scores_carry_their_calibration(project, metrics: dict) -> None:
    """Both judges score the corpus; evaluate.json shows the calibration of the one that did."""
    def calibrated() -> list[dict]:
        return json.loads((project.path / "calibration" / "calibrated_judges.json").read_text())

    def judge_calibration() -> dict:
        return json.loads((project.path / "metrics" / "evaluate.json").read_text())["judge_calibration"]

    llm, trained, tuned = calibrated()
    assert llm["test_pairs"] == metrics["llm"]["ER"]["n"] and llm["qwk"]["IP"] == metrics["llm"]["IP"]["qwk"]
    assert llm["synthetic_qwk"]["ER"] == metrics["synthetic"]["llm"]["ER"]["qwk"]
    assert trained["judge"]["model_sha256"] == file_sha256(project.path / "data" / "calibration" / "classifier.pkl")
    assert trained["qwk"]["EX"] == metrics["classifier_all_test"]["EX"]["qwk"]
    assert tuned["judge"] == {"scorer": "encoder",
                              "model_sha256": file_sha256(project.path / "data" / "calibration" / "encoder.safetensors")}
    assert tuned["synthetic_qwk"]["IP"] == metrics["synthetic"]["encoder"]["IP"]["qwk"]

    def entry_metrics(entry: dict) -> dict:
        return {"calibrated": 1, "test_pairs": entry["test_pairs"], **{f"{k}_qwk": v for k, v in entry["qwk"].items()},
                **{f"{k}_synthetic_qwk": v for k, v in entry["synthetic_qwk"].items()}}

    for scorer, entry in (("encoder", tuned), ("classifier", trained)):
        project.edit_params(lambda d: d["judge"].update(scorer=scorer))
        project.dvc("repro", "dvc.yaml")
        pairs = json.loads((project.path / "metrics" / "evaluate.json").read_text())["pairs"]
        assert json.loads((project.path / "metrics" / "judge.json").read_text())["kept"] == pairs > 0
        assert judge_calibration() == entry_metrics(entry)
    # retrained with other params: the judge stage re-runs and refuses the stale file until calibration re-runs
    project.edit_params(lambda d: d["calibration"]["classifier"].update(c=2.0))
    stale = project.dvc("repro", "dvc.yaml", check=False)
    assert stale.returncode != 0
    assert "error: judge.classifier: data/calibration/classifier.pkl was trained with" in stale.stdout + stale.stderr
    project.dvc("repro", "calibration/dvc.yaml")
    project.dvc("repro", "dvc.yaml")
    assert judge_calibration()["calibrated"] == 1 and calibrated()[1]["judge"] != trained["judge"]
    project.edit_params(lambda d: d["judge"].update(scorer="llm"))  # the LLM judge calibration ran with
    project.dvc("repro", "dvc.yaml")
    assert judge_calibration() == entry_metrics(llm)
    project.edit_params(lambda d: d["judge"].update(temperature=0.9))  # a judge nobody calibrated
    project.dvc("repro", "dvc.yaml")
    assert judge_calibration() == {"calibrated": 0}


@pytest.mark.model
@needs_epitome
def test_calibration_pipeline_on_real_epitome_data(tmp_path):
    """The real packaged encoder (MiniLM), trained one epoch on a 600-row sample of EPITOME."""
    project = calibration_project(tmp_path, SHARED, rows=600)
    metrics = run_calibration(project)
    pairs, conflicts = load_epitome(project.path / "data" / "epitome")
    assert metrics["split"]["pairs"] == len(pairs) and metrics["split"]["dropped_conflicting"] == conflicts
    for judge in ("classifier", "encoder"):
        assert metrics[f"{judge}_all_test"]["ER"]["n"] == metrics["split"]["test"]
        assert metrics["synthetic"][judge]["ER"]["n"] == 5
    # hand check of one figure: the encoder's ER QWK on the test split, from its own judgements file
    test = {e.id: e for e in read_records(project.path / "data" / "calibration" / "test.jsonl", EpitomeExample)}
    judged = [json.loads(line) for line in (project.path / "data/calibration/encoder_judgements.jsonl").open()]
    on_test = [j for j in judged if j["id"] in test]
    assert metrics["encoder_all_test"]["ER"]["qwk"] == round(quadratic_weighted_kappa(
        [test[j["id"]].emotional_reaction for j in on_test], [j["emotional_reaction"] for j in on_test]), 4)
    assert metrics["encoder_all_test"]["ER"]["qwk"] > 0.2  # one epoch on ~290 dev pairs already reads warmth
    project.commit("calibrated")
    project.edit_params(lambda d: d["judge"].update(temperature=0.0))  # a judge change reaches the diff
    project.dvc("repro", "calibration/dvc.yaml")
    diff = project.dvc("metrics", "diff", "--json").stdout
    assert "judge_calibration.json" in diff
