"""The whole pipeline through real `dvc` in a temporary git repo, with the real embedded model.

One project is built per module at a tiny scale (2 seeds x 1 story) and the
tests walk through what a researcher does with it, in order.
"""

from __future__ import annotations

import json
import re

import pytest

from synthempathy.jsonl import read_records
from synthempathy.records import Pair, Reject

from dvc_project import OUTPUTS, Project, make_project

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    base = tmp_path_factory.mktemp("pipeline")
    proj = make_project(base / "repo", base / "cache")
    proc = proj.dvc("repro")
    proj.first_repro = proc
    proj.commit("first corpus")
    return proj


def test_repro_builds_a_valid_corpus_with_metrics(project):
    for rel in OUTPUTS:
        assert (project.path / rel).exists(), rel
    pairs = read_records(project.path / "data/corpus/corpus.jsonl", Pair)
    rejects = read_records(project.path / "data/corpus/rejects.jsonl", Reject)
    assert len(pairs) + len(rejects) == 2  # every requested story ends in the corpus or in rejects
    for pair in pairs:
        assert pair.id in {"work-deadline-00", "finances-rent-00"}
        assert set(pair.provenance) == {"brainstorm", "rewrite", "respond"}
        assert pair.provenance["respond"].prompt == "prompts/respond.txt"
        assert pair.explanation and pair.response and pair.emotion and pair.cause
    evaluate = json.loads(project.read("metrics/evaluate.json"))
    assert evaluate["funnel"]["brainstorm_in"] == 2
    assert evaluate["funnel"]["corpus"] == evaluate["pairs"] == len(pairs)
    assert evaluate["response_words"]["paper_mean"] == 153.7
    err = project.first_repro.stderr + project.first_repro.stdout
    assert "brainstorm: 2 items ->" in err  # one-line summary
    assert "respond: 100%" in err  # progress bar reached the end


def test_dag_shows_five_stages_in_order(project):
    out = project.dvc("dag", "--md").stdout  # mermaid: node1["brainstorm"] ... node1-->node5
    names = dict(re.findall(r'(node\d+)\["(\w+)"\]', out))
    edges = {(names[a], names[b]) for a, b in re.findall(r"(node\d+)-->(node\d+)", out)}
    chain = ["brainstorm", "rewrite", "respond", "filter", "evaluate"]
    assert set(names.values()) == set(chain)
    assert set(zip(chain, chain[1:])) <= edges


def test_second_repro_does_nothing_and_says_so(project):
    proc = project.dvc("repro")
    out = proc.stdout + proc.stderr
    assert "Data and pipelines are up to date" in out
    assert "Running stage" not in out


def test_deleted_outputs_are_rebuilt_from_the_request_cache(project):
    before = {rel: project.read(rel) for rel in OUTPUTS}
    for rel in OUTPUTS:
        (project.path / rel).unlink()
    proc = project.dvc("repro", "--force")  # --force: skip DVC's run cache, exercise ours
    err = proc.stderr
    for stage in ("brainstorm", "rewrite", "respond"):
        line = next(l for l in err.splitlines() if l.startswith(f"{stage}: ") and "model calls" in l)
        assert "model calls 0," in line, line
    assert {rel: project.read(rel) for rel in OUTPUTS} == before


def test_params_and_metrics_diff_after_prompt_change(project):
    prompt = project.path / "prompts/respond.txt"
    prompt.write_text(prompt.read_text().replace("Conversations in which", "Warm conversations in which", 1))
    proc = project.dvc("repro")
    out = proc.stdout
    assert "'brainstorm' didn't change, skipping" in out
    assert "'rewrite' didn't change, skipping" in out
    assert "Running stage 'respond'" in out
    status = project.dvc("status").stdout
    assert "changed" not in status
    metrics = project.dvc("metrics", "diff", "--json").stdout
    diff = json.loads(metrics)
    assert "metrics/brainstorm.json" not in diff or not diff["metrics/brainstorm.json"]
    project.run("git", "checkout", "--", "prompts/respond.txt")
    project.dvc("repro")  # back to the committed state, served from cache
    assert project.dvc("status").stdout.strip().startswith("Data and pipelines are up to date")


def test_exp_run_with_set_param(project):
    # --temp runs in a copy holding only git/DVC-tracked files, which is what queued experiments see
    project.dvc("exp", "run", "--temp", "-S", "respond.temperature=0.9", "-n", "warmer")
    shown = json.dumps(json.loads(project.dvc("exp", "show", "--json").stdout))
    assert "warmer" in shown and '"temperature": 0.9' in shown
    assert '"pairs":' in shown  # the experiment produced evaluate metrics
    assert project.dvc("status").stdout.strip().startswith("Data and pipelines are up to date")


def test_bad_param_fails_before_model_load_with_one_line(project):
    project.edit_params(lambda d: d["respond"].update(temperature=-1))
    try:
        proc = project.dvc("repro", check=False)
        assert proc.returncode != 0
        lines = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
        assert len(lines) == 1
        assert "params.yaml:" in lines[0] and "respond.temperature" in lines[0] and "greater than or equal to 0" in lines[0]
        assert (project.path / "data/corpus/corpus.jsonl").exists()  # nothing produced is lost
        diff = project.dvc("params", "diff", "--json").stdout
        assert json.loads(diff)["params.yaml"]["respond.temperature"]["new"] == -1
    finally:
        # DVC removed respond's outs before running it: metrics come back from git, data from DVC's cache
        project.run("git", "checkout", "--", "params.yaml", "metrics")
        project.dvc("checkout")
    assert project.dvc("status").stdout.strip().startswith("Data and pipelines are up to date")


def test_fresh_project_with_fresh_cache_is_byte_identical(project, tmp_path):
    other = make_project(tmp_path / "repo", tmp_path / "cache")
    other.dvc("repro")
    for rel in OUTPUTS:
        assert other.read(rel) == project.read(rel), rel
