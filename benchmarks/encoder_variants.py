"""Which encoder judge? Every variant cross-validated on EPITOME dev, then scored on test once.

For each variant (a set of calibration.encoder overrides) this trains the judge
with `synthempathy.epitome.encoder.train` on k-1 folds of dev (folds by seeker
post) and scores the held-out fold, so the dev figures are out-of-fold; then
trains once on all of dev and scores the test split and the hand-labelled
synthetic pairs (tests/data/synthetic_epitome.jsonl). Variants with synthetic_train
also train on calibration/synthetic_train.jsonl (in every fold; never scored). Prints a markdown table
of QWK per mechanism and writes every figure and timing as JSON.

Usage: PYTHONPATH=src python benchmarks/encoder_variants.py [--epitome ../shared/epitome-data]
         [--variants frozen-response,tuned-sentence] [--folds 3] [--device cpu] [--model minilm]
         [--out results.json] [--limit N] [--skip-test]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from synthempathy.core.params import CalibrationParams, EncoderParams
from synthempathy.core.paths import SYNTHETIC_LABELS, SYNTHETIC_TRAIN
from synthempathy.epitome import encoder
from synthempathy.epitome.calibration import judge_report
from synthempathy.epitome.data import load_epitome, read_synthetic, sample, split_by_seeker
from synthempathy.epitome.scores import MECHANISMS, SHORT

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "frozen-response": {"synthetic_train": False, "unit": "response", "finetune": False, "max_tokens": 256},
    "frozen-pair": {"synthetic_train": False, "unit": "pair", "finetune": False, "max_tokens": 256},
    "frozen-sentence": {"synthetic_train": False, "unit": "sentence", "finetune": False},
    "tuned-response": {"synthetic_train": False, "unit": "response", "finetune": True, "max_tokens": 256},
    "tuned-pair": {"synthetic_train": False, "unit": "pair", "finetune": True, "max_tokens": 256},
    "tuned-sentence": {"synthetic_train": False, "unit": "sentence", "finetune": True},
    "tuned-sentence+synthetic": {"unit": "sentence", "finetune": True},  # the default calibration.encoder
}
"""The variants of benchmarks/ENCODER.md; tuned-response and tuned-pair were not run on 2 cores (cost)."""


def calibration_for(overrides: dict, args) -> CalibrationParams:
    return CalibrationParams(encoder=EncoderParams(**{"model": args.model, "device": args.device, **overrides}))


def fold_of(seeker_id: str, folds: int) -> int:
    """A seeker post's fold, from a hash: every response to one post is in one fold."""
    return int.from_bytes(hashlib.sha256(f"fold\x1f{seeker_id}".encode()).digest()[:8], "big") % folds


def levels_by_id(trained, examples) -> dict[str, dict[str, int]]:
    levels = encoder.predict(trained, [e.seeker_post for e in examples], [e.response_post for e in examples])
    return {e.id: {m: levels[m][i] for m in MECHANISMS} for i, e in enumerate(examples)}


def qwk_row(report: dict) -> str:
    return " | ".join(f"{report[SHORT[m]]['qwk']:.3f}" for m in MECHANISMS)


def run_variant(name: str, dev, test, synthetic, args) -> dict:
    calibration = calibration_for(VARIANTS[name], args)
    extra = read_synthetic(ROOT / SYNTHETIC_TRAIN) * calibration.encoder.synthetic_repeat \
        if calibration.encoder.synthetic_train else []
    out_of_fold, fold_s = {}, []
    for fold in range(args.folds):
        train = [e for e in dev if fold_of(e.seeker_id, args.folds) != fold]
        score = [e for e in dev if fold_of(e.seeker_id, args.folds) == fold]
        start = time.perf_counter()
        out_of_fold.update(levels_by_id(encoder.train(train + extra, calibration), score))
        fold_s.append(round(time.perf_counter() - start, 1))
    result = {"variant": name, "params": calibration.encoder.model_dump(), "fold_seconds": fold_s}
    if args.folds:
        result["dev_cv"] = judge_report(dev, out_of_fold, brief=True)
    if not args.skip_test:
        start = time.perf_counter()
        trained = encoder.train(dev + extra, calibration)
        result["train_seconds"] = round(time.perf_counter() - start, 1)
        start = time.perf_counter()
        result["test"] = judge_report(test, levels_by_id(trained, test), brief=True, interval_seed=2025)
        result["score_test_seconds"] = round(time.perf_counter() - start, 1)
        result["synthetic"] = judge_report(synthetic, levels_by_id(trained, synthetic), brief=True)
    print(f"| {name} | {qwk_row(result['dev_cv']) if args.folds else '- | - | -'} | "
          + (f"{qwk_row(result['test'])} | {qwk_row(result['synthetic'])} | {result['train_seconds']} |"
             if "test" in result else "|"), flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epitome", default=str(ROOT.parent / "shared" / "epitome-data"))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--folds", type=int, default=3, help="0: no cross-validation, test and synthetic only")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--out", default=None)
    ap.add_argument("--limit", type=int, default=None, help="dev and test pairs each (a quick check)")
    ap.add_argument("--skip-test", action="store_true")
    args = ap.parse_args()
    pairs, _ = load_epitome(args.epitome)
    defaults = CalibrationParams()
    dev, test = split_by_seeker(pairs, defaults.dev_share, defaults.seed)
    dev, test = sample(dev, args.limit, 1), sample(test, args.limit, 1)
    synthetic = read_synthetic(ROOT / SYNTHETIC_LABELS)
    print(f"{len(dev)} dev, {len(test)} test, {len(synthetic)} synthetic pairs; {args.folds}-fold CV on dev",
          file=sys.stderr)
    print("| variant | dev CV QWK ER | IP | EX | test QWK ER | IP | EX | synthetic QWK ER | IP | EX | train s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    results = [run_variant(name, dev, test, synthetic, args) for name in args.variants.split(",")]
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
