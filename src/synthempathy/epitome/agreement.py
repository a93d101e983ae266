"""How well a judge's 0/1/2 labels agree with human ones: the numbers calibration reports.

Plain Python on purpose: a few hundred labels per mechanism, and every formula
is checked against hand-computed values in tests/test_agreement.py.

- accuracy: share of exact matches.
- macro-F1: unweighted mean of per-class F1 over the classes that occur in
  either the human or the judge labels (scikit-learn's default), so a judge
  that never says "1" is not rewarded for the class nobody used.
- quadratic weighted kappa (QWK): agreement beyond chance where a 0-vs-2
  miss costs four times a 0-vs-1 miss; the figure EPITOME judges are compared
  by. 0 is chance (any constant answer scores 0), 1 is perfect. When both
  label sets hold one and the same value, chance agreement is total and kappa
  is undefined; we report 0.
"""

from __future__ import annotations

from collections.abc import Sequence

LEVELS = (0, 1, 2)


def confusion(human: Sequence[int], judge: Sequence[int]) -> list[list[int]]:
    """matrix[h][j] = how many items humans labelled h and the judge labelled j."""
    if len(human) != len(judge):
        raise ValueError(f"{len(human)} human labels but {len(judge)} judge labels")
    matrix = [[0] * len(LEVELS) for _ in LEVELS]
    for h, j in zip(human, judge):
        matrix[h][j] += 1
    return matrix


def accuracy(human: Sequence[int], judge: Sequence[int]) -> float:
    matrix = confusion(human, judge)
    n = sum(map(sum, matrix))
    return sum(matrix[k][k] for k in LEVELS) / n if n else 0.0


def macro_f1(human: Sequence[int], judge: Sequence[int]) -> float:
    matrix = confusion(human, judge)
    scores = []
    for k in LEVELS:
        tp = matrix[k][k]
        true_k = sum(matrix[k])
        pred_k = sum(row[k] for row in matrix)
        if true_k == 0 and pred_k == 0:
            continue
        scores.append(2 * tp / (true_k + pred_k))
    return sum(scores) / len(scores) if scores else 0.0


def quadratic_weighted_kappa(human: Sequence[int], judge: Sequence[int]) -> float:
    matrix = confusion(human, judge)
    n = sum(map(sum, matrix))
    if n == 0:
        return 0.0
    top = len(LEVELS) - 1
    human_counts = [sum(matrix[h]) for h in LEVELS]
    judge_counts = [sum(row[j] for row in matrix) for j in LEVELS]
    observed = expected = 0.0
    for h in LEVELS:
        for j in LEVELS:
            weight = (h - j) ** 2 / top ** 2
            observed += weight * matrix[h][j]
            expected += weight * human_counts[h] * judge_counts[j] / n
    return 1.0 - observed / expected if expected else 0.0


def distribution(labels: Sequence[int]) -> list[float]:
    """Share of each level 0, 1, 2."""
    n = len(labels)
    return [round(sum(1 for x in labels if x == k) / n, 4) if n else 0.0 for k in LEVELS]


def report(human: Sequence[int], judge: Sequence[int]) -> dict:
    """Every figure calibration writes for one mechanism, rounded for stable diffs."""
    return {
        "n": len(human),
        "accuracy": round(accuracy(human, judge), 4),
        "macro_f1": round(macro_f1(human, judge), 4),
        "qwk": round(quadratic_weighted_kappa(human, judge), 4),
        "confusion": confusion(human, judge),
        "human_distribution": distribution(human),
        "judge_distribution": distribution(judge),
    }


def bootstrap_interval(human: Sequence[int], judge: Sequence[int], measure=None, resamples: int = 1000,
                       seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of `measure` (default QWK) over resamples of the pairs,
    the same resamples for the same seed and length, so two judges' intervals are comparable."""
    import random

    measure = measure or quadratic_weighted_kappa
    n = len(human)
    if n == 0:
        return 0.0, 0.0
    rng = random.Random(seed)
    values = sorted(measure([human[k] for k in s], [judge[k] for k in s])
                    for s in ([rng.randrange(n) for _ in range(n)] for _ in range(resamples)))
    return round(values[int(0.025 * resamples)], 4), round(values[int(0.975 * resamples) - 1], 4)
