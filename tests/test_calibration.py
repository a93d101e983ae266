"""Calibration against EPITOME's human labels: loading, split, classifier, metrics, the DVC pipeline.

Code paths run on a small EPITOME-shaped fixture written for this project
(tests/epitome_fixture.py). Tests marked `epitome` also read the real data from
../shared/epitome-data, which is research-only and never copied into the repo;
where it is absent (a user's clone) they skip with the reason.
"""

from __future__ import annotations

import json
import shutil

import pytest

from synthempathy import classifier
from synthempathy.agreement import quadratic_weighted_kappa
from synthempathy.calibration import calibration_metrics, majority_levels
from synthempathy.epitome import FILES, load_epitome, sample, split_by_seeker
from synthempathy.errors import UserError
from synthempathy.judge import MECHANISMS
from synthempathy.params import ClassifierParams

from conftest import ROOT
from dvc_project import make_project
from epitome_fixture import write_epitome_fixture

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
    lines = path.read_text().splitlines()
    lines[3] = lines[3][: lines[3].rindex(",", 0, len(lines[3]) - 1)] + ",3,"
    path.write_text("\n".join(lines) + "\n")
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
    bundle = classifier.train(pairs, ClassifierParams(min_df=1))
    levels = classifier.predict(bundle, ["I lost my job"] * 2,
                                ["I am so sorry, that sounds really painful. What happened after you lost it?",
                                 "Just get over it, everyone lost a job at some point."])
    assert levels["emotional_reaction"] == [2, 0] and levels["exploration"] == [2, 0]
    classifier.save(bundle, tmp_path / "model.pkl")
    assert classifier.predict(classifier.load(tmp_path / "model.pkl"), ["x"], ["sorry to hear that"]) == \
        classifier.predict(bundle, ["x"], ["sorry to hear that"])
    (tmp_path / "other.pkl").write_bytes(b"\x80\x05N.")  # a pickled None
    with pytest.raises(UserError, match="not a classifier written by this version"):
        classifier.load(tmp_path / "other.pkl")
    with pytest.raises(UserError, match="classifier not found; run `dvc repro calibration/dvc.yaml`"):
        classifier.load(tmp_path / "missing.pkl")


def test_metrics_compare_both_judges_on_the_pairs_the_llm_scored(fixture_dir):
    pairs, _ = load_epitome(fixture_dir)
    dev, test = pairs[:20], pairs[20:]
    humans = {p.id: {m: getattr(p, m) for m in MECHANISMS} for p in test}
    llm = {pid: {m: 1 for m in MECHANISMS} for pid in list(humans)[:10]}  # a judge that always says 1
    out = calibration_metrics(dev, test, llm, llm_failed=2, classifier=humans, split={"dev": 20, "test": len(test)})
    assert out["llm"]["failed"] == 2 and out["llm"]["ER"]["n"] == 10
    assert out["llm"]["ER"]["qwk"] == 0.0 and out["llm"]["ER"]["judge_distribution"] == [0.0, 1.0, 0.0]
    assert out["classifier"]["IP"]["qwk"] == 1.0 and out["classifier"]["IP"]["n"] == 10  # same pairs as the llm
    assert out["classifier_all_test"]["EX"] == {"n": len(test), "accuracy": 1.0, "macro_f1": 1.0, "qwk": 1.0}
    majority = majority_levels(dev)
    assert out["majority"]["ER"]["level"] == majority["emotional_reaction"]


@needs_epitome
def test_real_epitome_split_has_no_leak_and_the_classifier_beats_chance():
    pairs, conflicts = load_epitome(SHARED)
    assert len(pairs) == 3004 and conflicts == 19
    dev, test = split_by_seeker(pairs, 0.5, seed=2025)
    assert not {p.seeker_id for p in dev} & {p.seeker_id for p in test}
    bundle = classifier.train(dev, ClassifierParams())
    levels = classifier.predict(bundle, [p.seeker_post for p in test], [p.response_post for p in test])
    for m in MECHANISMS:
        qwk = quadratic_weighted_kappa([getattr(p, m) for p in test], levels[m])
        assert qwk > 0.3, (m, qwk)  # measured: see benchmarks/CALIBRATION.md


def calibration_project(tmp_path, data_dir):
    project = make_project(tmp_path / "project", tmp_path / "cache")
    shutil.copytree(ROOT / "calibration", project.path / "calibration")
    (project.path / "data" / "epitome").mkdir(parents=True)
    for name in FILES.values():  # into the throwaway project only, never the repository
        shutil.copy(data_dir / name, project.path / "data" / "epitome" / name)
    project.edit_params(lambda d: d["calibration"].update(sample=10))
    return project


def run_calibration(project) -> dict:
    out = project.dvc("repro", "calibration/dvc.yaml")
    assert "calibration on 10 test pairs, QWK llm/classifier" in out.stdout + out.stderr
    return json.loads((project.path / "metrics" / "judge_calibration.json").read_text())


@pytest.mark.slow
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


@pytest.mark.slow
@needs_epitome
def test_calibration_pipeline_on_real_epitome_data(tmp_path):
    project = calibration_project(tmp_path, SHARED)
    metrics = run_calibration(project)
    assert metrics["split"]["pairs"] == 3004 and metrics["split"]["dropped_conflicting"] == 19
    assert metrics["classifier_all_test"]["ER"]["n"] == metrics["split"]["test"]
    assert metrics["classifier_all_test"]["EX"]["qwk"] > 0.3
    project.commit("calibrated")
    project.edit_params(lambda d: d["judge"].update(temperature=0.0))  # a judge change reaches the diff
    project.dvc("repro", "calibration/dvc.yaml")
    diff = project.dvc("metrics", "diff", "--json").stdout
    assert "judge_calibration.json" in diff
