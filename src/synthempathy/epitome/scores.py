"""EPITOME's three mechanisms and the statistics of their scores, shared by the judges,
calibration and evaluate (which must not depend on the model code the LLM judge needs)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from synthempathy.core.records import Judgement

MECHANISMS = ("emotional_reaction", "interpretation", "exploration")
SHORT = {"emotional_reaction": "ER", "interpretation": "IP", "exploration": "EX"}


def epitome_stats(judgements: Sequence[Judgement]) -> dict[str, dict[str, float]]:
    """Mean and population std of ER, IP, EX and their sum (0-6), rounded for stable diffs."""
    columns = {SHORT[m]: [getattr(j, m) for j in judgements] for m in MECHANISMS}
    columns["total"] = [sum(values) for values in zip(*columns.values())]
    return {
        name: {
            "mean": round(statistics.fmean(values), 3) if values else 0.0,
            "std": round(statistics.pstdev(values), 3) if values else 0.0,
        }
        for name, values in columns.items()
    }
