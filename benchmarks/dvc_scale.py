"""DVC at the paper's corpus size: `dvc status`, a no-op `dvc repro` and `synthempathy release`
with a 105,578-line corpus, and what a release pushes.

Builds a throwaway git + DVC project from this checkout's pipeline and its current outputs,
grows the corpus and its judgements to `--pairs` lines by copying real records under new
ids (the text is real, the count is the paper's), records them with `dvc commit`, then
times the commands a user runs. Needs this checkout's pipeline to be up to date
(`dvc repro`). Results: benchmarks/SCALE.md.

    python benchmarks/dvc_scale.py --pairs 105578
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TRACKED = ["dvc.yaml", "dvc.lock", "params.yaml", ".dvcignore", "prompts", "stages", "src", "data/seeds",
           "calibration/calibrated_judges.json", "metrics", "plots"]
GROWN = ["data/corpus/corpus.jsonl", "data/judged/epitome.jsonl"]
"""Outputs copied up to the target size (both are one line per kept pair)."""


def run(cwd: Path, *cmd: str) -> float:
    """Seconds the command took; fails loudly."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "b",
                               "GIT_AUTHOR_EMAIL": "b@example.com", "GIT_COMMITTER_NAME": "b",
                               "GIT_COMMITTER_EMAIL": "b@example.com"})
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - start


def grow(path: Path, lines: int) -> None:
    """Rewrite the JSONL at `path` to `lines` records, copies of its own under new ids."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    with path.open("w") as out:
        for n in range(lines):
            record = dict(records[n % len(records)])
            if n >= len(records):
                record["id"] = f"{record['id']}-copy{n // len(records)}"
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")


def export_committed(project: Path) -> None:
    """TRACKED as committed at HEAD (`git archive`): what a clone of this checkout would hold."""
    project.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD", *TRACKED], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(project)], input=archive, check=True)


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=105_578)
    args = parser.parse_args()
    dvc = [sys.executable, "-m", "dvc"]
    with tempfile.TemporaryDirectory() as tmp:
        project, remote = Path(tmp) / "project", Path(tmp) / "remote"
        export_committed(project)
        for out in ["data/taxonomy", "data/stories", "data/explanations", "data/pairs", "data/corpus", "data/judged"]:
            shutil.copytree(ROOT / out, project / out)
        for rel in GROWN:
            grow(project / rel, args.pairs)
        run(project, "git", "init", "-q")
        run(project, *dvc, "init", "-q")
        run(project, *dvc, "remote", "add", "-d", "local", str(remote))
        commit = run(project, *dvc, "commit", "-f", "-q")
        run(project, "git", "add", "-A")
        run(project, "git", "commit", "-qm", "pipeline at corpus size")
        status = [run(project, *dvc, "status") for _ in range(2)]
        repro = run(project, *dvc, "repro")
        release = run(project, sys.executable, "-m", "synthempathy", "release", "0.1.0")
        results = {
            "pairs": args.pairs,
            "corpus_mb": round((project / GROWN[0]).stat().st_size / 1e6, 1),
            "dvc_commit_s": round(commit, 1),
            "dvc_status_s": [round(s, 1) for s in status],
            "noop_dvc_repro_s": round(repro, 1),
            "release_s": round(release, 1),
            "pushed_mb": round(folder_bytes(remote) / 1e6, 1),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
