"""`synthempathy plan`: what the current params will cost, before you run them.

Per generating stage: items, model requests, generated tokens and hours. The rates
per item (tokens, retries, the share kept) come from the stage's last metrics file,
at whatever scale it ran; the speed (generated tokens per second, wall clock) from
the request cache's record of earlier runs of that stage with the same model and
batch size. Nothing runs and no model loads. `--pairs N` scales the plan to N kept
pairs; `--tok-per-s X` replaces every measured speed (a GPU server's throughput).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from synthempathy.core.metrics import (BrainstormMetrics, FilterMetrics, GenerationMetrics, RespondMetrics,
                                       SeedsMetrics, read_metrics)
from synthempathy.core.params import Params, ScaleParams
from synthempathy.generation.cache import RequestCache
from synthempathy.generation.llm import make_backend
from synthempathy.seeds.files import load_seed_files

STEPS = {"seeds": 1, "brainstorm": 1, "rewrite": 1, "respond": 3, "judge": 1}
"""Model requests per attempt (respond: emotion, cause, response with Chain-of-Empathy)."""
STAGE_METRICS = {"seeds": SeedsMetrics, "brainstorm": BrainstormMetrics, "rewrite": GenerationMetrics,
                 "respond": RespondMetrics, "judge": GenerationMetrics}


@dataclass(frozen=True)
class Rates:
    """What one item of a stage cost last time it ran."""

    tokens: float
    """Generated tokens per item, retries included."""
    attempts: float
    """Attempts per item (1 + retries per item)."""
    keep: float
    """Share of items the stage kept (for seeds: kept seeds per candidate)."""
    measured: bool


def rates(stage: str, params: Params, metrics_dir: Path) -> Rates:
    """The stage's rates from metrics/<stage>.json; without one, max_tokens/2 and all kept."""
    path = metrics_dir / f"{stage}.json"
    if path.exists():
        m = read_metrics(path, STAGE_METRICS[stage])
        if isinstance(m, SeedsMetrics):
            items, kept, retries = m.candidates, m.grown, 0
        else:
            items, kept, retries = m.items, m.kept, m.retries
        if items:
            return Rates(m.completion_tokens / items, 1 + retries / items, kept / items, True)
    section = params.judge if stage == "judge" else getattr(params, stage)
    return Rates(section.max_tokens / 2, 1.0, 1.0, False)


@dataclass(frozen=True)
class StagePlan:
    stage: str
    items: float
    requests: float
    tokens: float
    tok_per_s: float | None
    measured: bool

    @property
    def hours(self) -> float | None:
        if not self.tokens:
            return 0.0
        return self.tokens / self.tok_per_s / 3600 if self.tok_per_s else None


@dataclass(frozen=True)
class Plan:
    stages: list[StagePlan]
    kept_pairs: float
    scale: ScaleParams
    """The scale planned for: params.scale, or what yields the pairs asked for."""


def make_plan(params: Params, metrics_dir: Path = Path("metrics"), pairs: int | None = None,
              tok_per_s: float | None = None) -> Plan:
    """The plan for the params; with `pairs`, for the scale.seeds_per_category that yields them."""
    seeds, known = load_seed_files(params.seeds.files, params.seeds.columns)
    categories = params.scale.categories or known
    r = {stage: rates(stage, params, metrics_dir) for stage in STEPS}
    pairs_per_story = r["brainstorm"].keep * r["rewrite"].keep * r["respond"].keep * _filter_keep(metrics_dir)
    scale = params.scale
    if pairs:
        stories = pairs / pairs_per_story
        scale = scale.model_copy(update={
            "seeds_per_category": math.ceil(stories / scale.stories_per_seed / len(categories))})
    have = Counter(s.category for s in seeds)  # before dedupe: a slight under-estimate of what to grow
    grown = sum(max(0, scale.seeds_per_category - have[c]) for c in categories)
    stories = len(categories) * scale.seeds_per_category * scale.stories_per_seed
    items = {
        "seeds": grown / r["seeds"].keep if r["seeds"].keep else grown,
        "brainstorm": stories,
        "rewrite": stories * r["brainstorm"].keep,
    }
    items["respond"] = items["rewrite"] * r["rewrite"].keep
    kept_pairs = stories * pairs_per_story
    items["judge"] = kept_pairs if params.judge.scorer == "llm" else 0.0
    steps = dict(STEPS, respond=3 if params.respond.chain_of_empathy else 1)
    plans = []
    cache = RequestCache()
    try:
        for stage, n in items.items():
            llm = params.judge_llm if stage == "judge" else params.llm
            backend = make_backend(llm)
            identity = backend.identity
            speed = tok_per_s or cache.speed(stage, identity.model_sha256, identity.batch_rows or backend.concurrency)
            plans.append(StagePlan(stage, n, n * r[stage].attempts * steps[stage], n * r[stage].tokens, speed,
                                   r[stage].measured))
    finally:
        cache.close()
    return Plan(plans, kept_pairs, scale)


def _filter_keep(metrics_dir: Path) -> float:
    path = metrics_dir / "filter.json"
    if not path.exists():
        return 1.0
    m = read_metrics(path, FilterMetrics)
    return m.kept / m.pairs_in if m.pairs_in else 1.0


def render(plan: Plan) -> str:
    scale = plan.scale
    lines = [f"scale: {scale.seeds_per_category:,} seeds per category x {scale.stories_per_seed} stories per seed",
             f"{'stage':<11} {'items':>10} {'requests':>10} {'tokens':>12} {'tok/s':>7} {'hours':>8}"]
    for p in plan.stages:
        speed = f"{p.tok_per_s:7.0f}" if p.tok_per_s else f"{'?':>7}"
        hours = f"{p.hours:8.2f}" if p.hours is not None else f"{'?':>8}"
        mark = "" if p.measured else "  (not measured yet: max_tokens/2 per item)"
        lines.append(f"{p.stage:<11} {p.items:>10,.0f} {p.requests:>10,.0f} {p.tokens:>12,.0f} {speed} {hours}{mark}")
    known = [p.hours for p in plan.stages if p.hours is not None]
    total = f"{sum(known):,.2f} h" + ("" if len(known) == len(plan.stages) else " (stages marked ? not counted)")
    lines.append(f"total: {total}; expected kept pairs: {plan.kept_pairs:,.0f}")
    if any(p.hours is None for p in plan.stages):
        lines.append("?: no speed recorded for this model and batch size; run the stage once, or pass --tok-per-s")
    return "\n".join(lines)
