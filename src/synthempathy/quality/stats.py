"""Corpus statistics for the evaluate stage: funnel, lengths, diversity, histograms."""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter
from collections.abc import Sequence

import numpy as np

from synthempathy.core.records import Reject

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


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct-n (Li et al., 2016): unique word n-grams / all n-grams, over the whole corpus."""
    grams = Counter(
        tuple(tokens[i:i + n])
        for tokens in (t.lower().split() for t in texts)
        for i in range(len(tokens) - n + 1)
    )
    total = sum(grams.values())
    return round(len(grams) / total, 4) if total else 0.0


def sample_by_id(ids: Sequence[str], texts: Sequence[str], size: int) -> list[str]:
    """At most `size` texts, chosen by hash of id: the same ids give the same sample on any machine."""
    if len(texts) <= size:
        return list(texts)
    order = sorted(range(len(texts)), key=lambda i: hashlib.sha256(ids[i].encode()).hexdigest())
    return [texts[i] for i in sorted(order[:size])]


def nearest_neighbour_similarity(texts: Sequence[str]) -> float:
    """Mean over texts of the rapidfuzz token_sort_ratio (0-1) to the most similar other text.

    Low means a varied corpus; close to 1 means near-copies survived. Quadratic,
    so callers pass a bounded sample (evaluate.diversity_sample).
    """
    if len(texts) < 2:
        return 0.0
    from rapidfuzz import fuzz, process

    from synthempathy.quality.dedupe import normalize

    norm = [normalize(t) for t in texts]
    matrix = process.cdist(norm, norm, scorer=fuzz.token_sort_ratio, dtype=np.float32, workers=1)
    np.fill_diagonal(matrix, -1.0)
    return round(float(matrix.max(axis=1).mean()) / 100, 4)


def diversity(ids: Sequence[str], texts: Sequence[str], sample: int) -> dict[str, float]:
    """Distinct 1- and 2-grams over all texts, and nearest-neighbour similarity over a sample
    of them chosen by id (see sample_by_id)."""
    return {
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "nearest_neighbour_similarity": nearest_neighbour_similarity(sample_by_id(ids, texts, sample)),
    }


def emotion_spread(named: Sequence[Sequence[str]]) -> dict[str, float]:
    """Distinct emotions over the pairs that name any (`named`: each one's emotions), and the most
    common one's share of those pairs; a pair naming one emotion twice counts it once."""
    sets = [set(n) for n in named]
    counts = Counter(e for n in sets for e in n)
    return {"distinct": len(counts), "top_share": round(max(counts.values()) / len(sets), 4) if sets else 0.0}


def histogram(values: Sequence[int], width: int) -> dict[int, int]:
    """Counts per bin, keyed by the bin's lower edge; empty bins inside the range included."""
    if not values:
        return {}
    counts = Counter(v // width * width for v in values)
    return {edge: counts.get(edge, 0) for edge in range(min(counts), max(counts) + width, width)}
