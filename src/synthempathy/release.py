"""`synthempathy release X.Y.Z`: publish the current corpus under a git tag.

A release is only cut from a state anyone can reproduce: a clean git tree and
a pipeline whose outputs match its inputs (`dvc status` clean). It then writes
release/corpus.jsonl (the corpus as built), release/sft.jsonl (chat-format
`messages` for TRL, axolotl and OpenAI fine-tuning) and release/README.md (a
Hugging Face style dataset card), tracks the two data files with DVC, pushes
every DVC-tracked file to the remote, and only then commits and tags, so a
failed push leaves no tag pointing at data nobody can fetch.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from synthempathy.card import dataset_card
from synthempathy.core.errors import UserError
from synthempathy.core.jsonl import read_records, write_atomic, write_records
from synthempathy.core.params import load_params
from synthempathy.core.paths import CALIBRATED, CORPUS
from synthempathy.core.records import Pair

RELEASE_DIR = "release"
RELEASE_CORPUS, RELEASE_SFT, RELEASE_CARD = "release/corpus.jsonl", "release/sft.jsonl", "release/README.md"
VERSION = re.compile(r"\d+\.\d+\.\d+")
LOCAL_REMOTE_HINT = "dvc remote add -d local ~/synthempathy-dvc-remote"


def tag_of(version: str) -> str:
    return f"corpus-v{version}"


def sft_record(pair: Pair) -> dict:
    """One training conversation: the explanation as the user turn, the response as the assistant's;
    a crisis disclosure also carries its `safety` label."""
    record: dict = {"messages": [
        {"role": "user", "content": pair.explanation},
        {"role": "assistant", "content": pair.response},
    ]}
    if pair.safety is not None:
        record["safety"] = pair.safety.model_dump(mode="json")
    return record


def sft_records(pairs: list[Pair], flagged: str) -> list[dict]:
    """The SFT export; `flagged` (release.sft_flagged) omit leaves crisis disclosures out."""
    return [sft_record(p) for p in pairs if not (flagged == "omit" and p.safety is not None)]


class Repo:
    """git and dvc commands in one project folder; a failing command becomes a UserError."""

    def __init__(self, root: str | Path = "."):
        self.root = Path(root)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        try:
            proc = subprocess.run(args, cwd=self.root, capture_output=True, text=True)
        except FileNotFoundError:
            raise UserError(f"`{args[0]}` is not installed or not on PATH") from None
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise UserError(f"`{' '.join(args)}` failed: {detail[-1] if detail else f'exit {proc.returncode}'}")
        return proc

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("git", *args, check=check)

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args, check=check)


def check_ready(repo: Repo, version: str, remote: str | None) -> None:
    """Refuse, with the reason and the fix, anything that would make an unreproducible release."""
    if not VERSION.fullmatch(version):
        raise UserError(f"release version {version!r} is not of the form MAJOR.MINOR.PATCH (e.g. 0.3.0)")
    if repo.git("rev-parse", "--is-inside-work-tree", check=False).returncode != 0:
        raise UserError(f"{repo.root.resolve()} is not a git repository")
    dirty = repo.git("status", "--porcelain", "--untracked-files=normal").stdout.splitlines()
    if dirty:
        shown = ", ".join(line[3:] for line in dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        raise UserError(f"working tree is not clean ({shown}); commit or discard the changes first")
    tag = tag_of(version)
    if repo.git("rev-parse", "-q", "--verify", f"refs/tags/{tag}", check=False).returncode == 0:
        raise UserError(f"tag {tag} already exists; pick a new version (git tag -l 'corpus-v*' lists the used ones)")
    # the corpus pipeline only: calibration/dvc.yaml needs research-only data a release never holds
    stale = json.loads(repo.dvc("status", "--json", "dvc.yaml").stdout or "{}")
    if stale:
        raise UserError(f"pipeline is stale (dvc status: {', '.join(sorted(stale))} changed); run `dvc repro`, "
                        "commit, then release")
    if remote is None and repo.dvc("remote", "default", check=False).returncode != 0:  # "No default remote set"
        raise UserError(f"no default DVC remote to push the release to; for a local folder run `{LOCAL_REMOTE_HINT}` "
                        "(S3, GCS, SSH, HTTP: see docs/releases.md)")


def roll_back(repo: Repo) -> None:
    """Put release/ back as HEAD has it: tracked files, DVC-tracked copies, nothing new."""
    repo.git("checkout", "HEAD", "--", RELEASE_DIR, check=False)  # fails harmlessly before the first release
    repo.git("clean", "-fdxq", "--", RELEASE_DIR)
    repo.dvc("checkout", "-q", check=False)


def release(version: str, remote: str | None = None, root: str | Path = ".") -> str:
    """Cut release `version`; return its tag."""
    repo = Repo(root)
    check_ready(repo, version, remote)
    tag = tag_of(version)
    source_commit = repo.git("rev-parse", "HEAD").stdout.strip()
    root = repo.root
    (root / RELEASE_DIR).mkdir(exist_ok=True)
    pairs = read_records(root / CORPUS, Pair)
    shutil.copyfile(root / CORPUS, root / RELEASE_CORPUS)
    write_records(root / RELEASE_SFT, sft_records(pairs, load_params(root / "params.yaml").release.sft_flagged))
    calibrated_at = repo.git("log", "-1", "--format=%cs, commit %h", "--", CALIBRATED).stdout.strip() or None
    write_atomic(root / RELEASE_CARD, dataset_card(root, version, pairs, source_commit, calibrated_at))
    try:
        repo.dvc("add", "-q", RELEASE_CORPUS, RELEASE_SFT)
        repo.dvc("push", "-q", *(["-r", remote] if remote else []))
    except UserError as exc:
        roll_back(repo)
        raise UserError(f"{exc}; nothing was committed or tagged and release/ is as it was") from None
    repo.git("add", RELEASE_DIR)
    repo.git("commit", "-q", "-m", f"Release corpus v{version}")
    repo.git("tag", "-a", tag, "-m", f"synthempathy corpus v{version}: {len(pairs)} pairs (from {source_commit[:12]})")
    return tag
