"""Corpus statistics for the evaluate stage: funnel, lengths, categories."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence

from .records import Reject

FUNNEL_STAGES = ("brainstorm", "rewrite", "respond", "filter")


def word_stats(texts: Sequence[str]) -> dict[str, float]:
    """Mean, population std and percentiles of word counts (rounded for stable diffs)."""
    counts = sorted(len(t.split()) for t in texts)
    if not counts:
        return {"n": 0, "mean": 0.0, "std": 0.0, "p10": 0.0, "p50": 0.0, "p90": 0.0}

    def pct(q: float) -> float:
        return float(counts[min(len(counts) - 1, int(q * len(counts)))])

    return {
        "n": len(counts),
        "mean": round(statistics.fmean(counts), 2),
        "std": round(statistics.pstdev(counts), 2),
        "p10": pct(0.10),
        "p50": pct(0.50),
        "p90": pct(0.90),
    }


def funnel(corpus_size: int, rejects: Sequence[Reject]) -> dict[str, int]:
    """Items alive after each stage, rebuilt backwards from the corpus and the rejects.

    Every item that entered brainstorm either reached the corpus or was
    rejected by exactly one stage, so counts add up without reading stage outputs.
    """
    dropped = Counter(r.stage for r in rejects)
    alive = {"corpus": corpus_size}
    count = corpus_size
    for stage in reversed(FUNNEL_STAGES):
        count += dropped.get(stage, 0)
        alive[f"{stage}_in"] = count
    return {k: alive[k] for k in [f"{s}_in" for s in FUNNEL_STAGES] + ["corpus"]}
