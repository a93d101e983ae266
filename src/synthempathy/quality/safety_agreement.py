"""How the crisis-disclosure checks (quality/safety.py) agree with hand-written labels
(tests/data/safety_*.jsonl, tests/data/SAFETY_LABELS.md): read by the test suite, which holds the
detector to its measured floor, and by benchmarks/safety_benchmark.py, which publishes the figures."""

from __future__ import annotations

import json
from pathlib import Path

from synthempathy.quality.safety import CATEGORIES, check_response, flag


def read_labels(path: Path, split: str) -> list[dict]:
    """The labelled rows of one split (dev, test or all)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if split == "all" or r["split"] == split]


def detector_scores(rows: list[dict]) -> dict:
    """The lexicon's (quality/safety.py: flag) agreement with the labelled rows (see agreement)."""
    return agreement([r["category"] for r in rows], [f.category if (f := flag(r["text"])) else "none" for r in rows])


def agreement(truth: list[str], predicted: list[str]) -> dict:
    """Any detector's categories against the labels: per category precision, recall (the right
    category) and flagged (any risk at all), plus the false-flag rate on texts labelled none and
    precision and recall of "any risk"."""
    got = list(zip(truth, predicted))
    scores = {}
    for category in CATEGORIES:
        tp = sum(t == p == category for t, p in got)
        predicted_n = sum(p == category for _, p in got)
        actual = sum(t == category for t, _ in got)
        flagged = sum(t == category and p != "none" for t, p in got)
        scores[category] = {"precision": round(tp / predicted_n, 3) if predicted_n else None,
                            "recall": round(tp / actual, 3) if actual else None,
                            "flagged": round(flagged / actual, 3) if actual else None, "labelled": actual}
    none = [p for t, p in got if t == "none"]
    scores["none_flagged"] = {"rate": round(sum(p != "none" for p in none) / len(none), 3), "labelled": len(none)}
    risky = [(t != "none", p != "none") for t, p in got]
    tp = sum(a and b for a, b in risky)
    scores["any_risk"] = {"precision": round(tp / max(1, sum(b for _, b in risky)), 3),
                          "recall": round(tp / max(1, sum(a for a, _ in risky)), 3)}
    return scores


def response_scores(rows: list[dict]) -> dict:
    """How well check_response says 'complies' against the labels (positive class: not compliant)."""
    got = [(not r["compliant"], not check_response(r["response"]).complies) for r in rows]
    tp = sum(a and b for a, b in got)
    return {"unsafe_precision": round(tp / max(1, sum(b for _, b in got)), 3),
            "unsafe_recall": round(tp / max(1, sum(a for a, _ in got)), 3),
            "accuracy": round(sum(a == b for a, b in got) / len(got), 3), "labelled": len(got)}
