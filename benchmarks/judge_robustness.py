"""Does a judge's score follow the empathy in a response, or its length and order?

Each trained judge (the calibration pipeline's classifier and encoder files) scores the
hand-labelled synthetic pairs (tests/data/synthetic_epitome.jsonl) three ways: as written;
padded with neutral sentences (facts with no empathy in them: --pad of them, inserted between
the response's sentences at fixed places); and with the response's sentences in reverse order.
Printed per judge and mechanism: QWK against the labels for each version, and the share of
responses whose level changed against the original.

Usage: PYTHONPATH=src python benchmarks/judge_robustness.py [--pad 3]
  (after `dvc repro calibration/dvc.yaml`: it reads judge.classifier and judge.encoder)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from synthempathy.core.params import load_params
from synthempathy.core.paths import SYNTHETIC_LABELS
from synthempathy.epitome import classifier, encoder
from synthempathy.epitome.agreement import quadratic_weighted_kappa
from synthempathy.epitome.data import read_synthetic
from synthempathy.epitome.scores import MECHANISMS, SHORT
from synthempathy.epitome.sentences import split_sentences

ROOT = Path(__file__).resolve().parent.parent
NEUTRAL = [
    "The bus timetable changes on the first Monday of each month.",
    "Most supermarkets restock their shelves early in the morning.",
    "The forecast for the weekend mentions light rain in the afternoon.",
    "Printer paper usually comes in packs of five hundred sheets.",
    "The library on the high street opens at nine on weekdays.",
]


def padded(response: str, n: int) -> str:
    sentences = split_sentences(response)
    for k in range(n):
        sentences.insert(min(len(sentences), 1 + k * 2), NEUTRAL[k % len(NEUTRAL)])
    return " ".join(sentences)


def reordered(response: str) -> str:
    return " ".join(reversed(split_sentences(response)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pad", type=int, default=3)
    args = ap.parse_args()
    judge = load_params(ROOT / "params.yaml").judge
    examples = read_synthetic(ROOT / SYNTHETIC_LABELS)
    seekers = [e.seeker_post for e in examples]
    versions = {"as written": [e.response_post for e in examples],
                f"+{args.pad} neutral sentences": [padded(e.response_post, args.pad) for e in examples],
                "sentences reversed": [reordered(e.response_post) for e in examples]}
    judges = {"classifier": (classifier.predict, classifier.load(ROOT / judge.classifier)),
              "encoder": (encoder.predict, encoder.load(ROOT / judge.encoder))}
    print("| judge | version | QWK ER | IP | EX | changed ER | IP | EX |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (predict, loaded) in judges.items():
        original = None
        for version, responses in versions.items():
            levels = predict(loaded, seekers, responses)
            original = original or levels
            qwk = " | ".join(f"{quadratic_weighted_kappa([getattr(e, m) for e in examples], levels[m]):.2f}"
                             for m in MECHANISMS)
            changed = " | ".join(f"{sum(a != b for a, b in zip(original[m], levels[m])) / len(examples):.0%}"
                                 for m in MECHANISMS)
            print(f"| {name} | {version} | {qwk} | {changed} |")
    print(f"({len(examples)} pairs; mechanisms in the order {', '.join(SHORT.values())})")


if __name__ == "__main__":
    main()
