"""The metrics files that other code reads, as types.

Every stage validates what it writes against these models, and `synthempathy plan` and the
dataset card read through them, so renaming a metric fails at the stage that writes it (or
when read, for a metrics file from an older run) with the key named, instead of silently
emptying the card. Only numbers live here: names and hashes belong in provenance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from synthempathy.core.errors import UserError
from synthempathy.core.jsonl import write_json


class Metrics(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenerationMetrics(Metrics):
    """metrics/<stage>.json of a generating stage (run_generation's numbers, written by its script; the judge's)."""

    items: int
    kept: int
    rejected: dict[str, int]
    retries: int
    completion_tokens: int


class BrainstormMetrics(GenerationMetrics):
    seeds: int


class RespondMetrics(GenerationMetrics):
    chain_of_empathy: bool


class SeedDiversity(Metrics):
    distinct_2: float
    nearest_neighbour_similarity: float


class SeedsMetrics(Metrics):
    """metrics/seeds.json."""

    seeds: int
    from_files: int
    grown: int
    candidates: int
    """Model calls for grown seeds (each a candidate)."""
    missing: int
    rejected: dict[str, int]
    completion_tokens: int
    diversity: SeedDiversity


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


class Agreement(Metrics):
    """A judge against the human labels on one mechanism (epitome/calibration.py)."""

    n: int
    accuracy: float
    macro_f1: float
    qwk: float


class AgreementDetail(Agreement):
    """On the test pairs the LLM judge scored: where judge and humans differ."""

    confusion: list[list[int]]
    human_distribution: list[float]
    judge_distribution: list[float]


class AgreementInterval(Agreement):
    """With the 95% bootstrap interval of its QWK."""

    qwk_low: float
    qwk_high: float


class DetailPerMechanism(Metrics):
    ER: AgreementDetail
    IP: AgreementDetail
    EX: AgreementDetail


class LLMJudgeAgreement(DetailPerMechanism):
    failed: int
    """Test pairs whose judgement never validated."""


class IntervalPerMechanism(Metrics):
    ER: AgreementInterval
    IP: AgreementInterval
    EX: AgreementInterval


class Majority(Metrics):
    level: int
    accuracy: float
    macro_f1: float


class MajorityPerMechanism(Metrics):
    ER: Majority
    IP: Majority
    EX: Majority


class SplitCounts(Metrics):
    pairs: int
    dropped_conflicting: int
    dev: int
    test: int
    dev_posts: int
    test_posts: int


class SyntheticAgreement(Metrics):
    llm: IntervalPerMechanism
    classifier: IntervalPerMechanism
    encoder: IntervalPerMechanism


class CalibrationMetrics(Metrics):
    """metrics/judge_calibration.json: every judge against EPITOME's humans and the synthetic labels."""

    split: SplitCounts
    llm: LLMJudgeAgreement
    classifier: DetailPerMechanism
    encoder: DetailPerMechanism
    classifier_all_test: IntervalPerMechanism
    encoder_all_test: IntervalPerMechanism
    synthetic: SyntheticAgreement
    majority: MajorityPerMechanism


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


class Headline(Metrics):
    """metrics/headline.json's one block: the corpus pipeline's numbers a researcher compares first
    (`dvc exp show --drop '.*' --keep 'Experiment|headline'`, docs/experiments.md); every other
    metric stays in its stage's file."""

    pairs: int
    kept_share: float
    """Kept pairs per story brainstormed."""
    ER: float
    IP: float
    EX: float
    total: float
    judge_calibrated: int
    judge_synthetic_qwk_min: float | None
    """The weakest mechanism's QWK on the hand-labelled synthetic-style pairs: how far the means can be trusted."""
    explanation_words: float
    response_words: float
    """Means; the paper's are 95.5 and 153.7."""
    response_distinct_2: float
    response_similarity: float
    """Mean similarity of a response to its nearest neighbour: lower is more varied."""
    toxic_share: float
    emotions_distinct: int


def headline(metrics: EvaluateMetrics) -> dict:
    """The corpus pipeline's headline (written under "headline") from evaluate's metrics."""
    calibration = metrics.judge_calibration
    synthetic = [calibration.ER_synthetic_qwk, calibration.IP_synthetic_qwk, calibration.EX_synthetic_qwk]
    epitome, response = metrics.epitome, metrics.diversity.get("response")
    block = Headline(
        pairs=metrics.pairs,
        kept_share=round(metrics.funnel.corpus / metrics.funnel.brainstorm_in, 4) if metrics.funnel.brainstorm_in else 0.0,
        ER=epitome.ER.mean, IP=epitome.IP.mean, EX=epitome.EX.mean, total=epitome.total.mean,
        judge_calibrated=calibration.calibrated,
        judge_synthetic_qwk_min=min(synthetic) if None not in synthetic else None,
        explanation_words=metrics.explanation_words.mean, response_words=metrics.response_words.mean,
        response_distinct_2=response.distinct_2 if response else 0.0,
        response_similarity=response.nearest_neighbour_similarity if response else 0.0,
        toxic_share=metrics.toxicity.flagged_rate, emotions_distinct=metrics.emotions.distinct,
    )
    return block.model_dump()


class ModelScores(Metrics):
    ER: MeanStd
    IP: MeanStd
    EX: MeanStd
    total: MeanStd
    response_words: float


class Change(Metrics):
    """A relative change in percent with its 95% paired-bootstrap interval (None: nothing to divide by)."""

    value: float | None
    low: float | None
    high: float | None


class Comparison(Metrics):
    """One prompt source: the base and the tuned model on the same prompts."""

    prompts: int
    base: ModelScores
    tuned: ModelScores
    change_pct: dict[str, Change]


class DownstreamMetrics(Metrics):
    """metrics/downstream.json."""

    train_pairs: int
    judge: JudgeCalibrationMetrics
    held_out: Comparison
    epitome: Comparison | None = None
    """Only with downstream.epitome_prompts (EPITOME's posts as extra prompts)."""


class DownstreamHeadline(Metrics):
    """metrics/downstream_headline.json's block: did fine-tuning on the corpus make the model more
    empathetic (EPITOME total on held-out prompts, as the paper's +21%)."""

    train_pairs: int
    held_out_prompts: int
    base_total: float
    tuned_total: float
    change_pct: float | None
    change_low: float | None
    change_high: float | None
    downstream_judge_calibrated: int


def downstream_headline(metrics: DownstreamMetrics) -> dict:
    """The downstream pipeline's headline (written under "headline") from its metrics."""
    held_out, change = metrics.held_out, metrics.held_out.change_pct["total"]
    block = DownstreamHeadline(
        train_pairs=metrics.train_pairs, held_out_prompts=held_out.prompts, base_total=held_out.base.total.mean,
        tuned_total=held_out.tuned.total.mean, change_pct=change.value, change_low=change.low,
        change_high=change.high, downstream_judge_calibrated=metrics.judge.calibrated)
    return block.model_dump()


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


def write_metrics(path: str | Path, model: type[M], metrics: dict, under: str | None = None) -> M:
    """The one writer of a stage's metrics file: `metrics` as it is (so the file's bytes stay as
    they were), nested under the key `under` if given, once it fits `model`; returns it typed.
    A renamed metric fails here, naming the key, before anything is written."""
    typed = model.model_validate(metrics)
    write_json(path, {under: metrics} if under else metrics)
    return typed


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
