"""A throwaway copy of this repo as its own git + DVC project, for tests that run real dvc."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import ROOT

COPY = ["dvc.yaml", "params.yaml", ".dvcignore", "prompts", "stages", "src", "data/seeds",
        "calibration/calibrated_judges.json"]


class Project:
    """A throwaway copy of this repo as its own git + DVC project."""

    def __init__(self, path: Path, cache_dir: Path):
        self.path = path
        self.env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "SYNTHEMPATHY_CACHE_DIR": str(cache_dir),
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
            "DVC_NO_ANALYTICS": "1",
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(args, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=900)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args, check=check)

    def read(self, rel: str) -> bytes:
        return (self.path / rel).read_bytes()

    def edit_params(self, mutate) -> None:
        path = self.path / "params.yaml"
        data = yaml.safe_load(path.read_text())
        mutate(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message)


def stages_of(dvc_file: str = "dvc.yaml") -> dict:
    """A pipeline's stages as dvc.yaml declares them."""
    return yaml.safe_load((ROOT / dvc_file).read_text())["stages"]


def declared(stage: dict, kind: str) -> list[str]:
    """The paths a stage lists under `kind` (deps, outs, metrics or plots), without their options."""
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in stage.get(kind, [])]


def pipeline_outputs(dvc_file: str = "dvc.yaml") -> list[str]:
    """Every file a pipeline's `dvc repro` writes: its outs, metrics and plots."""
    return [path for stage in stages_of(dvc_file).values() for kind in ("outs", "metrics", "plots")
            for path in declared(stage, kind)]


def stage_command(name: str, dvc_file: str = "dvc.yaml") -> list[str]:
    """The command dvc runs for a stage, as an argv: its `cmd` without the leading PYTHONPATH=src
    (a project's env sets what it needs) and with this interpreter for `python`."""
    words = shlex.split(stages_of(dvc_file)[name]["cmd"])
    while "=" in words[0]:
        words.pop(0)
    return [sys.executable if word == "python" else word for word in words]


def copy_files(root: Path, rels: list[str]) -> None:
    """Copy files and folders (no bytecode) from this checkout into `root`, keeping their paths."""
    for rel in rels:
        src, dst = ROOT / rel, root / rel
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def make_project(root: Path, cache_dir: Path, stories_per_seed: int = 1) -> Project:
    """Copy the pipeline into `root` at a tiny scale: 2 seeds x `stories_per_seed` stories."""
    root.mkdir(parents=True)
    copy_files(root, COPY)
    project = Project(root, cache_dir)
    project.run("git", "init", "-q")
    project.dvc("init", "-q")
    project.dvc("config", "core.analytics", "false")
    def tiny(data: dict) -> None:
        data["scale"] = {"categories": ["work", "finances"], "seeds_per_category": 1,
                         "stories_per_seed": stories_per_seed}
        data["llm"]["n_threads"] = 2

    project.edit_params(tiny)
    project.commit("tiny project")
    return project
