"""The whole pipeline through real `dvc` in a temporary git repo, with the real embedded model.

One project is built per module at a tiny scale (2 seeds x 1 story) and the
tests walk through what a researcher does with it, in order.
"""

from __future__ import annotations

import json
import re
import sys

import pytest

from synthempathy.core.jsonl import read_records
from synthempathy.core.records import Judgement, Pair, Reject, Story
from synthempathy.generation.llm.llama_cpp import llama_cpp_version
from synthempathy.generation.llm.llama_cpp_batched import REVISION as BATCHED_REVISION

from conftest import ROOT
from dvc_project import Project, make_project, pipeline_outputs

pytestmark = pytest.mark.model


def strings_in(value) -> list[str]:
    """Every string leaf of a JSON value (dict keys excluded)."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return [value] if isinstance(value, str) else []


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    base = tmp_path_factory.mktemp("pipeline")
    proj = make_project(base / "repo", base / "cache")
    proc = proj.dvc("repro")
    proj.first_repro = proc
    proj.commit("first corpus")
    return proj


def test_repro_builds_a_valid_corpus_with_metrics(project):
    for rel in pipeline_outputs():
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
    stories = read_records(project.path / "data/stories/stories.jsonl", Story)
    backends = {(b.model, b.batch_rows, b.implementation) for b in (s.provenance["brainstorm"].backend for s in stories)}
    assert backends == {("gemma-3-270m-q4_k_m.gguf", 8, f"llama_cpp_batched r{BATCHED_REVISION}, "
                                                         f"llama-cpp-python {llama_cpp_version()}")}
    for path in sorted((project.path / "metrics").glob("*.json")):  # numbers to diff; names live in provenance
        assert not strings_in(json.loads(path.read_text())), path.name
    assert set(evaluate["diversity"]) == {"explanation", "response"}
    named = [pair.emotion.split(" and ") for pair in pairs]
    assert evaluate["emotions"]["distinct"] == len({e for n in named for e in n})
    assert evaluate["toxicity"]["flagged_rate"] == 0.0  # the filter removed what its scorer flags
    err = project.first_repro.stderr + project.first_repro.stdout
    assert "brainstorm: 2 items ->" in err  # one-line summary
    assert "respond: 100%" in err  # progress bar reached the end


def test_the_documented_headline_command_shows_the_headline_and_nothing_else(project):
    from synthempathy.core.metrics import Headline

    guide = (ROOT / "docs/experiments.md").read_text()
    command = next(line for line in guide.splitlines() if line.startswith("dvc exp show --drop"))
    table = project.run("bash", "-c", command.replace("dvc ", f"{sys.executable} -m dvc ", 1) + " --csv").stdout
    header, workspace = table.splitlines()[:2]
    written = json.loads(project.read("metrics/headline.json"))["headline"]
    assert set(written) == set(Headline.model_fields) and len(written) <= 15
    # DVC shows numbers; a headline number that is null (an uncalibrated judge's QWK) has no column
    assert header.split(",") == ["Experiment", *sorted(f"headline.{k}" for k, v in written.items() if v is not None)]
    evaluate = json.loads(project.read("metrics/evaluate.json"))
    shown = dict(zip(header.split(","), workspace.split(",")))
    assert float(shown["headline.total"]) == evaluate["epitome"]["total"]["mean"]
    assert int(shown["headline.pairs"]) == evaluate["pairs"]


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
    before = {rel: project.read(rel) for rel in pipeline_outputs()}
    for rel in pipeline_outputs():
        (project.path / rel).unlink()
    proc = project.dvc("repro", "--force")  # --force: skip DVC's run cache, exercise ours
    err = proc.stderr
    for stage in ("brainstorm", "rewrite", "respond", "judge"):
        line = next(l for l in err.splitlines() if l.startswith(f"{stage}: ") and "model calls" in l)
        assert "model calls 0," in line, line
    assert {rel: project.read(rel) for rel in pipeline_outputs()} == before


def test_metrics_diff_after_prompt_change_shows_only_affected_stages(project):
    guide = (ROOT / "docs/experiments.md").read_text()
    section = guide[guide.index("# Compare two prompts"):]
    edit = next(line.strip() for line in section.splitlines() if line.strip().startswith("sed -i"))
    before = project.read("prompts/respond.txt")
    project.run("bash", "-c", edit)  # the guide's own step 1
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


DISCLOSURES = {
    "suicide_self_harm": (
        "Since the layoffs at my office I keep thinking that everyone in my family would be better off without me, "
        "and I lie awake every night going over it.",
        "Thank you for telling me this. I am really worried about you and what you describe sounds serious. Please "
        "call or text 988 or your local emergency number now, and ask someone you trust to stay with you tonight."),
    "medical_emergency": (
        "My chest is tight and the pain is going down my left arm while I sit at my desk typing this, and my boss "
        "wants the report finished before noon.",
        "That sounds like a stressful morning with the report hanging over you. Maybe have a cup of tea, rest for "
        "a while and then finish it calmly."),
}


def test_each_safety_policy_through_dvc(project):
    """A model writing a disclosure cannot be provoked on demand, so two are written into the real pairs
    file; the real filter stage then runs under each policy through `dvc repro -s filter` (gates off,
    so only the safety policy decides)."""
    pairs_path = project.path / "data/pairs/pairs.jsonl"
    pairs = read_records(pairs_path, Pair)
    extra = [pairs[0].model_copy(update={"id": f"risk-{category}", "explanation": explanation, "response": response,
                                         "emotion": "fear", "cause": "A frightening situation."})
             for category, (explanation, response) in DISCLOSURES.items()]
    pairs_path.write_text("".join(p.model_dump_json() + "\n" for p in [*pairs, *extra]))
    try:
        outcome = {}
        for policy in ("drop", "label", "require_compliant"):
            def edit(d, policy=policy):
                d["filter"]["gates"]["enabled"] = False
                d["filter"]["safety"]["policy"] = {c: policy for c in DISCLOSURES}
            project.edit_params(edit)
            project.dvc("repro", "-s", "filter")
            corpus = {p.id: p for p in read_records(project.path / "data/corpus/corpus.jsonl", Pair)}
            rejects = {r.id: r for r in read_records(project.path / "data/corpus/rejects.jsonl", Reject)}
            metrics = json.loads((project.path / "metrics/filter.json").read_text())["safety"]
            outcome[policy] = ({i for i in corpus if i.startswith("risk-")},
                               {i: rejects[i].reason for i in rejects if i.startswith("risk-")})
            assert (metrics["suicide_self_harm"]["flagged"], metrics["suicide_self_harm"]["compliant"]) == (1, 1)
            assert (metrics["medical_emergency"]["flagged"], metrics["medical_emergency"]["compliant"]) == (1, 0)
            assert all((pair.safety is not None) == pair.id.startswith("risk-") for pair in corpus.values())
        assert outcome["drop"] == (set(), {"risk-suicide_self_harm": "crisis_disclosure",
                                           "risk-medical_emergency": "crisis_disclosure"})
        assert outcome["label"] == ({"risk-suicide_self_harm", "risk-medical_emergency"}, {})
        assert outcome["require_compliant"] == ({"risk-suicide_self_harm"}, {"risk-medical_emergency": "unsafe_response"})
        assert metrics["medical_emergency"]["dropped"] == 1 and metrics["suicide_self_harm"]["kept"] == 1
    finally:
        project.run("git", "checkout", "--", "params.yaml", "metrics", "dvc.lock")
        project.dvc("checkout", "-f")
    assert project.dvc("status").stdout.strip().startswith("Data and pipelines are up to date")


def test_fresh_project_with_fresh_cache_is_byte_identical(project, tmp_path):
    other = make_project(tmp_path / "repo", tmp_path / "cache")
    other.dvc("repro")
    for rel in pipeline_outputs():
        assert other.read(rel) == project.read(rel), rel
