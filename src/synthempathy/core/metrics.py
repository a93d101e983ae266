"""The metrics files that other code reads, as types.

filter and evaluate validate what they write against these models, and the dataset card
reads through them, so renaming a metric fails at the stage that writes it (or at release,
for a metrics file from an older run) with the key named, instead of silently emptying the
card. Only numbers live here: names and hashes belong in provenance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from synthempathy.core.errors import UserError


class Metrics(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeanStd(Metrics):
    mean: float
    std: float


class WordStats(MeanStd):
    n: int
    p10: float
    p50: float
    p90: float
    paper_mean: float


class EpitomeMetrics(Metrics):
    ER: MeanStd
    IP: MeanStd
    EX: MeanStd
    total: MeanStd
    judged: int
    failed: int


class JudgeCalibrationMetrics(Metrics):
    calibrated: int
    """1 when the judge that made the scores was calibrated against EPITOME's humans, else 0."""
    test_pairs: int | None = None
    ER_qwk: float | None = None
    IP_qwk: float | None = None
    EX_qwk: float | None = None
    ER_synthetic_qwk: float | None = None
    """QWK on the hand-labelled synthetic-style pairs (tests/data/synthetic_epitome.jsonl): validity on our kind of text."""
    IP_synthetic_qwk: float | None = None
    EX_synthetic_qwk: float | None = None


class DiversityMetrics(Metrics):
    distinct_1: float
    distinct_2: float
    nearest_neighbour_similarity: float


class ToxicityMetrics(Metrics):
    flagged_rate: float
    max_score: float


class EmotionMetrics(Metrics):
    """How the Chain-of-Empathy emotions spread over the corpus (benchmarks/EMOTION.md)."""

    distinct: int
    """Entries named at least once (0 for the direct baseline, which names none)."""
    top_share: float
    """Share of pairs that name the most common entry: near 1 means one emotion for every post."""


class FunnelMetrics(Metrics):
    brainstorm_in: int
    rewrite_in: int
    respond_in: int
    filter_in: int
    corpus: int


class EvaluateMetrics(Metrics):
    """metrics/evaluate.json."""

    pairs: int
    epitome: EpitomeMetrics
    judge_calibration: JudgeCalibrationMetrics
    explanation_words: WordStats
    response_words: WordStats
    diversity: dict[str, DiversityMetrics]
    emotions: EmotionMetrics
    toxicity: ToxicityMetrics
    funnel: FunnelMetrics
    per_category: dict[str, int]


class SafetyCounts(Metrics):
    flagged: int
    compliant: int
    dropped: int
    kept: int


class FilterMetrics(Metrics):
    """metrics/filter.json."""

    pairs_in: int
    kept: int
    dropped: dict[str, int]
    safety: dict[str, SafetyCounts] | None = None
    """Per crisis category; absent when filter.safety.enabled is false."""


M = TypeVar("M", bound=Metrics)


def checked(model: type[M], metrics: dict) -> dict:
    """`metrics` unchanged (so the file's bytes stay as written), after checking it fits `model`."""
    model.model_validate(metrics)
    return metrics


def read_metrics(path: str | Path, model: type[M]) -> M:
    """A metrics file as `model`; one line naming the file and key when it does not fit."""
    try:
        return model.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise UserError(f"{path}: missing; run `dvc repro` first") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not JSON ({exc}); run `dvc repro` to rewrite it") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(f"{path}: {where}: {first['msg']}; it is from another version of this pipeline: "
                        "run `dvc repro`") from None
