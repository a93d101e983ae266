"""The whole pipeline through real `dvc` in a temporary git repo, with the real embedded model.

One project is built per module at a tiny scale (2 seeds x 1 story) and the
tests walk through what a researcher does with it, in order.
"""

from __future__ import annotations

import json
import re

import pytest

from synthempathy.jsonl import read_records
from synthempathy.records import Judgement, Pair, Reject

from conftest import ROOT
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
    judged = read_records(project.path / "data/judged/epitome.jsonl", Judgement)
    assert {j.id for j in judged} <= {p.id for p in pairs}
    assert evaluate["epitome"]["judged"] + evaluate["epitome"]["failed"] == len(pairs)
    assert 0 <= evaluate["epitome"]["total"]["mean"] <= 6
    assert json.loads(project.read("metrics/judge.json"))["model"]["name"] == "gemma-3-270m-q4_k_m.gguf"
    assert set(evaluate["diversity"]) == {"explanation", "response"}
    assert evaluate["toxicity"]["flagged_rate"] == 0.0  # the filter removed what its scorer flags
    err = project.first_repro.stderr + project.first_repro.stdout
    assert "brainstorm: 2 items ->" in err  # one-line summary
    assert "respond: 100%" in err  # progress bar reached the end


def test_dag_shows_seven_stages_in_order(project):
    out = project.dvc("dag", "--md").stdout  # mermaid: node1["seeds"] ... node1-->node7
    names = dict(re.findall(r'(node\d+)\["(\w+)"\]', out))
    edges = {(names[a], names[b]) for a, b in re.findall(r"(node\d+)-->(node\d+)", out)}
    chain = ["seeds", "brainstorm", "rewrite", "respond", "filter", "judge", "evaluate"]
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
    for stage in ("brainstorm", "rewrite", "respond", "judge"):
        line = next(l for l in err.splitlines() if l.startswith(f"{stage}: ") and "model calls" in l)
        assert "model calls 0," in line, line
    assert {rel: project.read(rel) for rel in OUTPUTS} == before


def test_metrics_diff_after_prompt_change_shows_only_affected_stages(project):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Compare two prompts"):]
    edit = next(line.strip() for line in section.splitlines() if line.strip().startswith("sed -i"))
    before = project.read("prompts/respond.txt")
    project.run("bash", "-c", edit)  # the README's own step 1
    assert project.read("prompts/respond.txt") != before
    out = project.dvc("repro").stdout
    assert "'brainstorm' didn't change, skipping" in out
    assert "'rewrite' didn't change, skipping" in out
    assert "Running stage 'respond'" in out
    assert "changed" not in project.dvc("status").stdout
    diff = json.loads(project.dvc("metrics", "diff", "--json").stdout)
    assert not diff.get("metrics/brainstorm.json") and not diff.get("metrics/rewrite.json")
    changed = diff["metrics/respond.json"]["completion_tokens"]
    assert changed["old"] != changed["new"] and changed["diff"] == changed["new"] - changed["old"]
    table = project.dvc("metrics", "diff").stdout  # what a user reads
    assert "metrics/respond.json" in table and "completion_tokens" in table and "brainstorm.json" not in table
    project.run("git", "checkout", "--", "prompts/respond.txt")
    project.dvc("repro")  # back to the committed state, served from cache
    assert project.dvc("status").stdout.strip().startswith("Data and pipelines are up to date")


def test_plots_show_and_diff_render_lengths_and_scores(project, tmp_path):
    shown = json.loads(project.dvc("plots", "show", "--json").stdout)["data"]
    assert set(shown) == {"plots/explanation_words.csv", "plots/response_words.csv", "plots/epitome.csv"}
    scores = {row["score"]: int(row["pairs"]) for row in shown["plots/epitome.csv"][0]["content"]["data"]["values"]}
    judged = json.loads(project.read("metrics/evaluate.json"))["epitome"]["judged"]
    assert len(scores) == 9 and sum(v for k, v in scores.items() if k.startswith("ER ")) == judged
    out = project.dvc("plots", "diff", "HEAD", "-o", str(tmp_path / "html")).stdout
    assert (tmp_path / "html" / "index.html").exists(), out


def test_exp_run_baseline_without_chain_of_empathy(project):
    # --temp runs in a copy holding only git/DVC-tracked files, which is what queued experiments see
    project.dvc("exp", "run", "--temp", "-S", "respond.chain_of_empathy=false", "-n", "no-coe")
    shown = json.dumps(json.loads(project.dvc("exp", "show", "--json").stdout))
    assert "no-coe" in shown and '"chain_of_empathy": false' in shown
    assert '"epitome":' in shown  # the experiment produced judge scores in its evaluate metrics
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
