"""Did a change to the LLM judge move its agreement with humans? A paired bootstrap.

Two judgement files from the calibration judge stage (data/calibration/llm_judgements.jsonl,
before and after a change: a prompt, a sampler, a model) score the same test pairs. Per
mechanism this prints each side's QWK, accuracy and macro-F1 against EPITOME's human labels,
the change, and its 95% interval over --resamples paired bootstrap resamples of the pairs, plus
how many pairs got another answer. An interval that includes 0 is a change the 150-pair sample
cannot tell from chance.

Usage: PYTHONPATH=src .venv/bin/python benchmarks/judge_change.py BEFORE.jsonl AFTER.jsonl
         [--test data/calibration/test.jsonl] [--resamples 2000] [--seed 0]
(the previous version of a DVC-tracked file is in .dvc/cache under the md5 git's old dvc.lock names)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from synthempathy.epitome.agreement import accuracy, macro_f1, quadratic_weighted_kappa  # noqa: E402
from synthempathy.epitome.scores import MECHANISMS, SHORT  # noqa: E402

MEASURES = {"qwk": quadratic_weighted_kappa, "accuracy": accuracy, "macro_f1": macro_f1}


def by_id(path: str) -> dict[str, dict]:
    return {record["id"]: record for record in map(json.loads, Path(path).read_text().splitlines())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--test", default=str(ROOT / "data/calibration/test.jsonl"))
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    before, after, human = by_id(args.before), by_id(args.after), by_id(args.test)
    ids = sorted(set(before) & set(after))
    print(f"{len(ids)} pairs judged on both sides ({len(before)} before, {len(after)} after)")
    print("| mechanism | measure | before | after | change [95% interval] |")
    print("|---|---|---|---|---|")
    rng = random.Random(args.seed)
    samples = [[rng.randrange(len(ids)) for _ in ids] for _ in range(args.resamples)]
    for mechanism in MECHANISMS:
        h = [human[i][mechanism] for i in ids]
        b = [before[i][mechanism] for i in ids]
        a = [after[i][mechanism] for i in ids]
        for name, measure in MEASURES.items():
            changes = sorted(measure([h[k] for k in s], [a[k] for k in s]) - measure([h[k] for k in s], [b[k] for k in s])
                             for s in samples)
            low, high = changes[int(0.025 * len(changes))], changes[int(0.975 * len(changes)) - 1]
            print(f"| {SHORT[mechanism]} | {name} | {measure(h, b):.3f} | {measure(h, a):.3f} | "
                  f"{measure(h, a) - measure(h, b):+.3f} [{low:+.3f}, {high:+.3f}] |")
        print(f"| {SHORT[mechanism]} | answers changed | | | {sum(x != y for x, y in zip(b, a))}/{len(ids)} |")


if __name__ == "__main__":
    main()
