"""Releases end to end with real git and real DVC: release, `dvc get`, `dvc import`, `dvc update`.

One tiny project with a local-folder DVC remote is built per module; the
tests then do what a maintainer and a downstream user do, in order.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from synthempathy.card import size_category
from synthempathy.core.jsonl import read_records
from synthempathy.core.records import Pair

from conftest import ROOT
from dvc_project import Project, make_project

pytestmark = pytest.mark.model


def release(project: Project, *args: str, check: bool = True):
    return project.run(sys.executable, "-m", "synthempathy", "release", *args, check=check)


def outsider(path: Path, project: Project) -> Project:
    """An unrelated folder (its own git + DVC repo) with the same environment."""
    path.mkdir()
    other = Project(path, Path(project.env["SYNTHEMPATHY_CACHE_DIR"]))
    other.run("git", "init", "-q")
    other.dvc("init", "-q")
    other.commit("consumer")
    return other


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    base = tmp_path_factory.mktemp("release")
    proj = make_project(base / "repo", base / "cache", stories_per_seed=2)
    proj.edit_params(lambda d: d["filter"]["gates"].update(enabled=False))  # a few pairs to release, whatever they say
    proj.remote = base / "remote"
    proj.dvc("remote", "add", "-d", "local", str(proj.remote))
    proj.dvc("repro")
    proj.commit("corpus")
    proj.tag = release(proj, "0.1.0").stderr
    return proj


def test_release_writes_corpus_sft_card_commits_tags_and_pushes(project):
    assert "released corpus-v0.1.0" in project.tag
    assert project.run("git", "status", "--porcelain").stdout == ""
    assert project.run("git", "tag", "-l", "corpus-v*").stdout.split() == ["corpus-v0.1.0"]
    assert "synthempathy corpus v0.1.0" in project.run("git", "tag", "-n1", "corpus-v0.1.0").stdout
    released = project.read("release/corpus.jsonl")
    assert released == project.read("data/corpus/corpus.jsonl")
    pairs = read_records(project.path / "release/corpus.jsonl", Pair)
    assert pairs, "the tiny corpus should keep at least one pair"
    sft = [json.loads(line) for line in project.read("release/sft.jsonl").decode().splitlines()]
    assert sft == [{"messages": [{"role": "user", "content": p.explanation},
                                 {"role": "assistant", "content": p.response}]} for p in pairs]
    card = project.read("release/README.md").decode()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == "cc-by-4.0" and header["size_categories"] == ["n<1K"]
    assert header["language"] == ["en"] and header["task_categories"] == ["text-generation"]
    assert "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818" in card  # the model's sha256
    assert "`prompts/respond.txt`" in card and "2502.17857" in card and "## Sensitive content" in card
    assert f"| pairs | {len(pairs)} | 105,578 |" in card
    llm_judge = json.loads((ROOT / "calibration" / "calibrated_judges.json").read_text())[0]  # the default judge
    calibrated_in = project.run("git", "log", "-1", "--format=%cs, commit %h", "--",
                                "calibration/calibrated_judges.json").stdout.strip()
    assert (f"on {llm_judge['test_pairs']} held-out Reddit pairs with quadratic weighted kappa "
            f"ER {llm_judge['qwk']['ER']:.2f}, IP {llm_judge['qwk']['IP']:.2f}, EX {llm_judge['qwk']['EX']:.2f} "
            f"(0 is chance, 1 perfect; calibration of {calibrated_in},") in card
    tracked = project.run("git", "ls-files", "release").stdout.split()
    assert sorted(tracked) == ["release/.gitignore", "release/README.md", "release/corpus.jsonl.dvc", "release/sft.jsonl.dvc"]
    assert project.dvc("status", "-c").stdout.strip().startswith("Cache and remote 'local' are in sync")


def test_dvc_get_at_the_tag_is_byte_identical(project, tmp_path):
    out = tmp_path / "corpus.jsonl"
    project.dvc("get", str(project.path), "release/corpus.jsonl", "--rev", "corpus-v0.1.0", "-o", str(out))
    assert out.read_bytes() == project.read("release/corpus.jsonl")


def test_dvc_api_open_reads_a_release(project):
    import dvc.api

    with dvc.api.open("release/sft.jsonl", repo=str(project.path), rev="corpus-v0.1.0") as fh:
        assert fh.read().encode() == project.read("release/sft.jsonl")


def test_refuses_existing_tag_dirty_tree_stale_pipeline_and_bad_version(project):
    def refused(*args: str) -> str:
        proc = release(project, *args, check=False)
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        return lines[0]

    assert "tag corpus-v0.1.0 already exists" in refused("0.1.0")
    assert "not of the form MAJOR.MINOR.PATCH" in refused("v2")
    (project.path / "params.yaml").write_text((project.path / "params.yaml").read_text() + "\n")
    assert "working tree is not clean (params.yaml)" in refused("0.2.0")
    project.edit_params(lambda d: d["filter"].update(min_words={"explanation": 21, "response": 21}))
    project.commit("stricter filter, not yet reproduced")
    stale = refused("0.2.0")
    assert "pipeline is stale" in stale and "filter" in stale
    project.run("git", "reset", "-q", "--hard", "HEAD~1")
    assert project.run("git", "tag", "-l", "corpus-v0.2.0").stdout == ""


def test_failed_push_leaves_no_commit_no_tag_and_a_clean_tree(project, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the remote folder should be")
    proc = release(project, "0.1.1", "--remote", "broken", check=False)
    assert proc.returncode == 2 and "broken" in proc.stderr  # unknown remote name
    project.dvc("remote", "add", "broken", str(blocker / "remote"))
    project.commit("a remote that cannot be written")
    head = project.run("git", "rev-parse", "HEAD").stdout
    proc = release(project, "0.1.1", "--remote", "broken", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "nothing was committed or tagged" in proc.stderr
    assert project.run("git", "rev-parse", "HEAD").stdout == head
    assert project.run("git", "tag", "-l", "corpus-v0.1.1").stdout == ""
    assert project.run("git", "status", "--porcelain").stdout == ""
    assert project.read("release/corpus.jsonl") == project.read("data/corpus/corpus.jsonl")


def test_import_then_update_to_a_second_release(project, tmp_path):
    consumer = outsider(tmp_path / "consumer", project)
    consumer.dvc("import", str(project.path), "release/corpus.jsonl", "--rev", "corpus-v0.1.0", "-o", "corpus.jsonl")
    first = project.read("release/corpus.jsonl")
    assert consumer.read("corpus.jsonl") == first
    # v0.2.0: a stricter filter drops the longest response, so the corpus really changes
    longest = max(len(p.response.split()) for p in read_records(project.path / "release/corpus.jsonl", Pair))
    project.edit_params(lambda d: d["filter"]["max_words"].update(response=longest - 1))
    project.dvc("repro")
    project.commit("drop the longest response")
    release(project, "0.2.0")
    second = project.read("release/corpus.jsonl")
    assert second != first and len(second.splitlines()) == len(first.splitlines()) - 1
    consumer.dvc("update", "--rev", "corpus-v0.2.0", "corpus.jsonl.dvc")
    assert consumer.read("corpus.jsonl") == second
    assert "corpus-v0.2.0" in consumer.read("corpus.jsonl.dvc").decode()


def test_size_category_buckets():
    assert [size_category(n) for n in (0, 999, 1000, 105_578, 2_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "100K<n<1M", "n>1M"]
