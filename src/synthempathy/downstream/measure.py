"""Base against tuned: EPITOME means, the relative change and its paired-bootstrap interval.

The paper reports the change of the average EPITOME score after fine-tuning (+21% with Mistral 7B).
Both models answer the same prompts, so the interval resamples prompts, each carrying its base and
its tuned answer: the prompt-to-prompt spread that both share cancels, as it should.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping, Sequence

from synthempathy.core.records import AnswerScore
from synthempathy.epitome.scores import MECHANISMS, SHORT

PARTS = (*SHORT.values(), "total")
"""ER, IP, EX and their sum (0-6), the paper's headline."""


def part_of(score: AnswerScore, part: str) -> int:
    levels = {SHORT[m]: getattr(score, m) for m in MECHANISMS}
    return sum(levels.values()) if part == "total" else levels[part]


def describe(scores: Sequence[AnswerScore]) -> dict:
    """Mean and std of ER, IP, EX and total, and the mean response length in words."""
    out = {}
    for part in PARTS:
        values = [part_of(s, part) for s in scores]
        out[part] = {"mean": round(statistics.fmean(values), 4), "std": round(statistics.pstdev(values), 4)}
    out["response_words"] = round(statistics.fmean(s.response_words for s in scores), 1)
    return out


def relative_change(base: Sequence[float], tuned: Sequence[float]) -> float | None:
    """100 x (tuned mean - base mean) / base mean; None when the base mean is 0."""
    before = sum(base)
    return None if before == 0 else 100.0 * (sum(tuned) - before) / before


def paired_change(base: Sequence[int], tuned: Sequence[int], resamples: int, seed: int) -> dict:
    """The relative change in percent with its 95% paired-bootstrap interval (None where undefined)."""
    value = relative_change(base, tuned)
    rng = random.Random(seed)
    n = len(base)
    draws = []
    for _ in range(resamples):
        picks = [rng.randrange(n) for _ in range(n)]
        change = relative_change([base[i] for i in picks], [tuned[i] for i in picks])
        if change is not None:
            draws.append(change)
    draws.sort()
    if value is None or len(draws) < resamples // 2:
        return {"value": None, "low": None, "high": None}
    return {"value": round(value, 2), "low": round(draws[int(0.025 * len(draws))], 2),
            "high": round(draws[min(len(draws) - 1, int(0.975 * len(draws)))], 2)}


def compare(scores: Sequence[AnswerScore], resamples: int, seed: int) -> dict:
    """One prompt source's block of metrics/downstream.json: prompts, base, tuned, change_pct."""
    by_model: Mapping[str, dict[str, AnswerScore]] = {
        model: {s.id: s for s in scores if s.model == model} for model in ("base", "tuned")}
    ids = sorted(set(by_model["base"]) & set(by_model["tuned"]))
    base = [by_model["base"][i] for i in ids]
    tuned = [by_model["tuned"][i] for i in ids]
    return {
        "prompts": len(ids),
        "base": describe(base),
        "tuned": describe(tuned),
        "change_pct": {part: paired_change([part_of(s, part) for s in base], [part_of(s, part) for s in tuned],
                                           resamples, seed) for part in PARTS},
    }


def score_rows(scores: Sequence[AnswerScore]) -> list[tuple[str, str, int, int]]:
    """(model, mechanism, level, answers) rows for the score-distribution plot."""
    rows = []
    for model in ("base", "tuned"):
        mine = [s for s in scores if s.model == model]
        for m in MECHANISMS:
            for level in (0, 1, 2):
                rows.append((model, SHORT[m], level, sum(getattr(s, m) == level for s in mine)))
    return rows
