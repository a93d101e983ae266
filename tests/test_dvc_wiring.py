"""dvc.yaml says what each stage runs: its library modules, its prompts, its files and metrics.

DVC re-runs a stage only when a listed dep changed, so a missing dep serves stale outputs
and an extra one re-runs work for nothing. These tests derive each stage's library deps from
its script's imports (every `synthempathy` import, at module or function level, followed
transitively) and its prompt deps from params.yaml, and hold every path its `cmd` passes
(`--name PATH`, core/entry_point.py: `stage`) to the deps and outs beside it; the last one
edits a module in a throwaway project and asks real `dvc status` which stages it touched.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from synthempathy.core import paths
from synthempathy.core.jsonl import write_records
from synthempathy.core.params import Params, load_params
from synthempathy.core.records import Judgement, Pair

from conftest import ROOT
from dvc_project import Project, copy_files, declared, pipeline_outputs, stages_of
from fakes import provenance

SRC = ROOT / "src"
PACKAGE = SRC / "synthempathy"
WHOLE = ("core",)
"""Folders every stage lists whole: params, records and I/O define every output."""
PIPELINES = ("dvc.yaml", "calibration/dvc.yaml", "downstream/dvc.yaml")
UNTRACKED = {("downstream/dvc.yaml", "split", "epitome_test"), ("calibration/dvc.yaml", "report", "calibrated")}
"""Files a stage touches that are deliberately not its deps or outs, each explained in its dvc.yaml:
EPITOME's test split (read only with downstream.epitome_prompts, tracked through the calibration
params) and calibrated_judges.json (an input of the corpus pipeline, so not an out here)."""
PROMPT_SECTIONS = {("downstream/dvc.yaml", "train"): ("downstream",), ("downstream/dvc.yaml", "generate"): ("downstream",),
                   ("downstream/dvc.yaml", "score"): ("judge",)}
"""Stages that use the prompts of params sections other than their own name."""
OUTSIDE_READERS = {PACKAGE / "release.py", PACKAGE / "card.py"}
"""Library modules that read the pipelines' files after `dvc repro`, through core/paths.py."""


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


def script_of(stage: dict) -> Path:
    return ROOT / re.search(r"python (\S+\.py)", stage["cmd"])[1]


def cmd_files(stage: dict) -> dict[str, list[str]]:
    """The `--name PATH...` options of a stage's cmd, by the name the script reads them as."""
    words = shlex.split(stage["cmd"])
    words = words[words.index(str(script_of(stage).relative_to(ROOT))) + 1:]
    files: dict[str, list[str]] = {}
    for word in words:
        if word.startswith("--"):
            files[word[2:].replace("-", "_")] = []
        else:
            files[list(files)[-1]].append(word)
    return files


def declared_files(script: Path) -> tuple[list[str], list[str]]:
    """(reads, writes) as the script's `@stage(...)` lists them, read from its source."""
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "stage":
            lists = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
            return list(lists.get("reads", ())), list(lists["writes"])
    raise AssertionError(f"{script}: no @stage(...)")


CASES = [(dvc_file, name) for dvc_file in PIPELINES for name in stages_of(dvc_file)]


@pytest.mark.parametrize("dvc_file, name", CASES)
def test_library_deps_are_exactly_the_modules_the_script_runs(dvc_file, name):
    stage = stages_of(dvc_file)[name]
    listed = {d for d in declared(stage, "deps") if d.startswith("src/")}
    assert listed == expected_src_deps(closure(script_of(stage)))
    assert str(script_of(stage).relative_to(ROOT)) in declared(stage, "deps")


@pytest.mark.parametrize("dvc_file, name", CASES)
def test_every_path_the_cmd_passes_is_a_dep_or_an_out_and_nothing_else_is(dvc_file, name):
    """A read is a dep and a write an out, metric or plot; every data dep and every output is
    passed in, so dvc.yaml names each file once and the script never names one."""
    stage = stages_of(dvc_file)[name]
    reads, writes = declared_files(script_of(stage))
    files = cmd_files(stage)
    assert list(files) == reads + writes
    def given(names: list[str]) -> set[str]:
        return {path for n in names if (dvc_file, name, n) not in UNTRACKED for path in files[n]}

    data = {d for d in declared(stage, "deps") if not d.startswith(("src/", "stages/", "${", "prompts/"))}
    assert given(reads) == data
    assert given(writes) == {path for kind in ("outs", "metrics", "plots") for path in declared(stage, kind)}


def test_a_stage_run_without_its_files_names_them_and_writes_nothing(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SRC)}
    run = [sys.executable, str(ROOT / "stages/judge.py")]
    proc = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1].endswith("the following arguments are required: --corpus, --out, --failed, "
                                                 "--metrics")
    assert list(tmp_path.iterdir()) == []
    usage = subprocess.run([*run, "--help"], env=env, capture_output=True, text=True, timeout=120).stdout
    assert "Stage 5, judge: EPITOME empathy scores for every pair in the corpus." in usage
    assert re.search(r"files read:\s+--corpus PATH\s+files written:\s+--out PATH\s+--failed PATH\s+--metrics PATH",
                     usage), usage


def test_stage_scripts_and_library_modules_name_no_pipeline_path():
    """Only code that runs after `dvc repro` (release, card) looks paths up in core/paths.py."""
    importers = {path for path in [*PACKAGE.rglob("*.py"), *ROOT.glob("stages/**/*.py")]
                 if "synthempathy.core.paths" in imported(path)}
    assert importers == OUTSIDE_READERS


def test_the_paths_outside_readers_use_are_declared_in_a_pipeline():
    everything = {path for dvc_file in PIPELINES for stage in stages_of(dvc_file).values()
                  for kind in ("deps", "outs", "metrics", "plots") for path in declared(stage, kind)}
    constants = {value for name, value in vars(paths).items() if name.isupper() and isinstance(value, str)}
    assert constants <= everything
    assert {paths.metrics_of(stage) for stage in ("evaluate", "filter", "downstream")} <= everything


def test_no_test_or_benchmark_imports_a_stage_script():
    for path in [*ROOT.glob("tests/*.py"), *ROOT.glob("benchmarks/*.py")]:
        text = path.read_text()
        assert not re.search(r"^\s*(from|import) stages\b|sys\.path\.\w+\([^)]*stages", text, re.M), path


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
    listed = [d for d in declared(stages_of(dvc_file)[name], "deps") if d.startswith(("${", "prompts/"))]
    assert listed == [f"${{{section}.{field}}}" for section in sections for field in prompt_fields(getattr(params, section))]


def changed_stages(project: Project) -> set[str]:
    """The stages `dvc status` reports with changed deps."""
    report = json.loads(project.dvc("status", "--json").stdout or "{}")
    return {stage for stage, entries in report.items()
            if any(isinstance(entry, dict) and "changed deps" in entry for entry in entries)}


CORPUS_REJECTS = cmd_files(stages_of()["filter"])["rejects"][0]
HEADLINE = cmd_files(stages_of()["evaluate"])["headline"][0]


def placeholder_project(root: Path) -> Project:
    """A throwaway git + DVC copy of the pipeline whose outputs were written here, not generated:
    two valid corpus pairs and their judgements, the committed metrics, "{}" everywhere else,
    all committed to DVC as they are (no model runs)."""
    project = Project(root / "p", root / "cache")
    copy_files(project.path, ["dvc.yaml", "params.yaml", ".dvcignore", "prompts", "stages", "src", "data/seeds",
                              paths.CALIBRATED, paths.metrics_of("evaluate"), paths.metrics_of("filter"), HEADLINE])
    for out in pipeline_outputs():
        if not (project.path / out).exists():
            (project.path / out).parent.mkdir(parents=True, exist_ok=True)
            (project.path / out).write_text("{}")
    pairs = [Pair(id=f"work-a-0{i}", seed_id="work-a", category="work", situation="A deadline.", story="A story.",
                  explanation=f"I missed my deadline {i} and I feel awful about it.", emotion="ashamed",
                  cause="They fear being judged.", response=f"That sounds hard {i}; what would help you now?",
                  provenance={"respond": provenance()}) for i in range(2)]
    write_records(project.path / paths.CORPUS, pairs)
    write_records(project.path / CORPUS_REJECTS, [])
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
