"""dvc.yaml says what each stage runs: its library modules, its prompts, its data and metrics.

DVC re-runs a stage only when a listed dep changed, so a missing dep serves stale outputs
and an extra one re-runs work for nothing. These tests derive each stage's deps from its
script's imports (every `synthempathy` import, at module or function level, followed
transitively), from params.yaml's prompt paths and from src/synthempathy/core/paths.py, and
compare them with both dvc.yaml files; the last one edits a module in a throwaway project and
asks real `dvc status` which stages it touched.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from synthempathy.core import paths
from synthempathy.core.jsonl import write_records
from synthempathy.core.params import Params, load_params
from synthempathy.core.records import Judgement, Pair

from conftest import ROOT
from dvc_project import Project, copy_files
from fakes import provenance

SRC = ROOT / "src"
PACKAGE = SRC / "synthempathy"
WHOLE = ("core",)
"""Folders every stage lists whole: params, records and I/O define every output."""
PIPELINES = {"dvc.yaml": paths.STAGE_FILES, "calibration/dvc.yaml": paths.CALIBRATION_FILES,
             "downstream/dvc.yaml": paths.DOWNSTREAM_FILES}
PLOTS = {("dvc.yaml", "evaluate"): set(paths.EVALUATE_PLOTS), ("calibration/dvc.yaml", "report"): {paths.CALIBRATION_PLOTS},
         ("calibration/dvc.yaml", "encoder"): {paths.ENCODER_LOSS},
         ("downstream/dvc.yaml", "train"): {paths.plot_of("downstream_loss")},
         ("downstream/dvc.yaml", "score"): {paths.plot_of("downstream_scores")}}
METRICS = {("calibration/dvc.yaml", "report"): {paths.metrics_of("judge_calibration")},
           ("downstream/dvc.yaml", "score"): {paths.metrics_of("downstream"), paths.DOWNSTREAM_HEADLINE},
           **{("dvc.yaml", name): {paths.metrics_of(name)} for name in paths.STAGE_FILES},
           ("dvc.yaml", "evaluate"): {paths.metrics_of("evaluate"), paths.HEADLINE}}
PROMPT_SECTIONS = {("downstream/dvc.yaml", "train"): ("downstream",), ("downstream/dvc.yaml", "generate"): ("downstream",),
                   ("downstream/dvc.yaml", "score"): ("judge",)}
"""Stages that use the prompts of params sections other than their own name."""


def module_file(name: str) -> Path | None:
    path = SRC.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imported(path: Path) -> set[str]:
    """Every synthempathy module `path` imports, anywhere in the file (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("synthempathy"):
            assert node.level == 0, f"{path}: relative import"
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}")}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("synthempathy")}
    return found


def closure(script: Path) -> set[Path]:
    """The library files a script runs: its imports, theirs, and every package on the way."""
    seen: set[str] = set()
    todo = imported(script)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        todo |= {".".join(parts[:i]) for i in range(1, len(parts))} - seen
        if name in seen or module_file(name) is None:
            continue
        seen.add(name)
        todo |= imported(module_file(name)) - seen
    return {module_file(name) for name in seen}


def docstring_only(path: Path) -> bool:
    """A package __init__ with nothing that could change an output (a docstring, a version)."""
    body = ast.parse(path.read_text()).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
               or isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__version__"] for node in body)


def expected_src_deps(files: set[Path]) -> set[str]:
    """The smallest dep list covering exactly `files`: a folder where the stage runs all of it."""
    deps = set()
    for folder in sorted({f.parent for f in files if f.parent != PACKAGE and f.parent.parent == PACKAGE}):
        modules = {f for f in folder.rglob("*.py") if not (f.name == "__init__.py" and docstring_only(f))}
        if folder.name in WHOLE or modules <= files:
            deps.add(folder)
            files = {f for f in files if folder not in f.parents}
    deps |= {f for f in files if not (f.name == "__init__.py" and docstring_only(f))}
    return {str(d.relative_to(ROOT)) for d in deps}


def stages_of(dvc_file: str) -> dict:
    return yaml.safe_load((ROOT / dvc_file).read_text())["stages"]


def script_of(stage: dict) -> Path:
    return ROOT / re.search(r"python (\S+\.py)", stage["cmd"])[1]


def dep_names(stage: dict) -> list[str]:
    return [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]


def out_names(stage: dict, kind: str) -> list[str]:
    return [o if isinstance(o, str) else next(iter(o)) for o in stage.get(kind, [])]


CASES = [(dvc_file, name) for dvc_file in PIPELINES for name in stages_of(dvc_file)]


@pytest.mark.parametrize("dvc_file, name", CASES)
def test_library_deps_are_exactly_the_modules_the_script_runs(dvc_file, name):
    stage = stages_of(dvc_file)[name]
    listed = {d for d in dep_names(stage) if d.startswith("src/")}
    assert listed == expected_src_deps(closure(script_of(stage)))
    assert str(script_of(stage).relative_to(ROOT)) in dep_names(stage)


@pytest.mark.parametrize("dvc_file, name", CASES)
def test_data_deps_outs_and_metrics_are_the_declared_paths(dvc_file, name):
    stage = stages_of(dvc_file)[name]
    reads, writes = PIPELINES[dvc_file][name]
    data = {d for d in dep_names(stage) if not d.startswith(("src/", "stages/", "${", "prompts/"))}
    assert data == set(reads)
    assert set(out_names(stage, "outs")) == set(writes)
    assert set(out_names(stage, "plots")) == PLOTS.get((dvc_file, name), set())
    assert set(out_names(stage, "metrics")) == METRICS.get((dvc_file, name), set())


def test_every_package_init_outside_a_listed_folder_holds_no_code():
    for init in PACKAGE.rglob("__init__.py"):
        if init.parent.name not in ("generation", "llm"):  # listed whole where it is used
            assert docstring_only(init), init


def prompt_fields(section) -> dict[str, str]:
    """A params section's file paths: prompts, grammars, guidance and list files."""
    return {name: value for name, value in section.model_dump().items()
            if isinstance(value, str) and re.search(r"(prompt|grammar|guidance|_list)$", name)}


@pytest.mark.parametrize("dvc_file, name", CASES)
def test_prompt_deps_are_interpolated_from_the_params_that_choose_them(dvc_file, name):
    """A stage named like a params section uses that section's prompt files (the calibration
    judge is the judge); listing them as ${section.key} keeps deps right when params change them."""
    params = load_params(ROOT / "params.yaml")
    sections = PROMPT_SECTIONS.get((dvc_file, name), (name,) if name in Params.model_fields else ())
    listed = [d for d in dep_names(stages_of(dvc_file)[name]) if d.startswith(("${", "prompts/"))]
    assert listed == [f"${{{section}.{field}}}" for section in sections for field in prompt_fields(getattr(params, section))]


def changed_stages(project: Project) -> set[str]:
    """The stages `dvc status` reports with changed deps."""
    report = json.loads(project.dvc("status", "--json").stdout or "{}")
    return {stage for stage, entries in report.items()
            if any(isinstance(entry, dict) and "changed deps" in entry for entry in entries)}


def placeholder_project(root: Path) -> Project:
    """A throwaway git + DVC copy of the pipeline whose outputs were written here, not generated:
    two valid corpus pairs and their judgements, the committed metrics, "{}" everywhere else,
    all committed to DVC as they are (no model runs)."""
    project = Project(root / "p", root / "cache")
    copy_files(project.path, ["dvc.yaml", "params.yaml", ".dvcignore", "prompts", "stages", "src", "data/seeds",
                              paths.CALIBRATED, paths.metrics_of("evaluate"), paths.metrics_of("filter"), paths.HEADLINE])
    for out in paths.OUTPUTS:
        if not (project.path / out).exists():
            (project.path / out).parent.mkdir(parents=True, exist_ok=True)
            (project.path / out).write_text("{}")
    pairs = [Pair(id=f"work-a-0{i}", seed_id="work-a", category="work", situation="A deadline.", story="A story.",
                  explanation=f"I missed my deadline {i} and I feel awful about it.", emotion="ashamed",
                  cause="They fear being judged.", response=f"That sounds hard {i}; what would help you now?",
                  provenance={"respond": provenance()}) for i in range(2)]
    write_records(project.path / paths.CORPUS, pairs)
    write_records(project.path / paths.CORPUS_REJECTS, [])
    write_records(project.path / paths.JUDGEMENTS, [
        Judgement(id=p.id, category=p.category, emotional_reaction=1, interpretation=2, exploration=0,
                  provenance=provenance(prompt="prompts/judge.txt")) for p in pairs])
    project.run("git", "init", "-q")
    project.dvc("init", "-q")
    project.dvc("commit", "-f", "-q")
    return project


def test_release_then_a_library_edit_on_placeholder_outputs(tmp_path):
    """`synthempathy release` with real git and DVC: refuses a dirty tree, then exports, writes the card,
    pushes, commits and tags (tests/test_release.py does the same on a generated corpus). Then real
    `dvc status` after one module edit: only the stages that import it are stale. (One project for
    both: building it is most of the time.)"""
    project = placeholder_project(tmp_path)
    project.dvc("remote", "add", "-d", "local", str(tmp_path / "remote"))
    release = (sys.executable, "-m", "synthempathy", "release")
    refused = project.run(*release, "0.1.0", check=False)
    assert refused.returncode == 2 and refused.stderr.startswith("error: working tree is not clean")
    project.commit("placeholder corpus")
    project.run(*release, "0.1.0")
    assert project.run("git", "tag", "-l").stdout.split() == ["corpus-v0.1.0"]
    assert project.read("release/corpus.jsonl") == project.read(paths.CORPUS)
    sft = [json.loads(line) for line in project.read("release/sft.jsonl").decode().splitlines()]
    assert [r["messages"][0]["content"] for r in sft] == [f"I missed my deadline {i} and I feel awful about it."
                                                         for i in range(2)]
    card = project.read("release/README.md").decode()
    assert "2 synthetic explanation-response pairs" in card and "| pairs | 2 | 105,578 |" in card
    assert project.run("git", "status", "--porcelain").stdout == ""
    assert any((tmp_path / "remote").rglob("*")), "nothing was pushed"
    stats = project.path / "src/synthempathy/quality/stats.py"
    stats.write_text(stats.read_text() + "\n# an edit\n")
    assert changed_stages(project) == {"seeds", "evaluate"}
    (project.path / "src/synthempathy/cli.py").write_text("# the command line is no stage's dep\n")
    assert changed_stages(project) == {"seeds", "evaluate"}
