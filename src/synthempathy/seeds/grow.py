"""The seed set a run uses: the seed files' situations, and new ones the model writes.

Each selected category takes its first `scale.seeds_per_category` seeds from the
files. A category the files cannot fill grows: the model writes candidate
situations `<category>-grown-00000`, `-00001`, ... few-shot from that category's
file seeds, and each candidate is kept unless it copies (exactly or nearly) a file
seed or an earlier kept candidate.

Growing is incremental by construction. A candidate's prompt and seed depend only
on its category and number, and whether it is kept depends only on the file seeds
and the candidates numbered before it. So raising `seeds_per_category` re-uses
every candidate already generated (the request cache serves them) and the model
writes only the new ones, and the seeds already kept stay kept.
"""

from __future__ import annotations

import math
import random
import sys
from collections import Counter
from dataclasses import dataclass, field

from synthempathy.core.errors import UserError
from synthempathy.core.params import Params
from synthempathy.core.records import Reject, Seed
from synthempathy.generation.driver import Generator, Item, Step
from synthempathy.generation.generating_stage import GenerationStage, build_records
from synthempathy.quality.dedupe import dedupe
from synthempathy.quality.stats import distinct_n, nearest_neighbour_similarity, sample_by_id
from synthempathy.seeds.files import load_seed_files

STAGE = "seeds"
DIVERSITY_SAMPLE = 2000
"""Seeds compared pairwise for the nearest-neighbour similarity metric (quadratic cost)."""
MIN_WORDS, MAX_WORDS = 4, 40
"""A written situation is one sentence: shorter is a fragment, longer a story."""


LABEL = "Situation:"


def situation_of(output: str) -> str:
    """The first situation in the model's output. In chat format the embedded model often
    repeats the scaffold ("Situation: ..."), and goes on listing more; the first counts."""
    for line in output.splitlines():
        line = line.strip()
        if line.startswith(LABEL):
            line = line[len(LABEL):].strip()
        if line and not line.startswith("Category:"):
            return line
    return ""


def check_situation(fields: dict[str, str]) -> str | None:
    """A problem with a written situation (then it is retried with a new seed), or None."""
    text = situation_of(fields["situation"])
    words = len(text.split())
    if not MIN_WORDS <= words <= MAX_WORDS:
        return f"{words} words (a situation has {MIN_WORDS}-{MAX_WORDS}): {text[:200]}"
    if ":" in text:
        return f"a label in the situation: {text[:200]}"
    return None


def seed_stage(params: Params) -> GenerationStage:
    return GenerationStage.of(
        params.seeds,
        name=STAGE,
        variables={"category", "examples"},
        steps=(Step("situation"),),
        build=lambda category, item, fields, prov: Seed(
            id=item.id, category=category, situation=situation_of(fields["situation"]), source="grown",
            provenance=prov,
        ),
        check=check_situation,
    )


def candidate(category: str, number: int, pool: list[Seed], examples: int) -> Item:
    """Candidate `number` of `category`: its few-shot examples are drawn from `pool` by its number
    alone (string seeds make random.Random the same on every machine and Python run)."""
    shots = random.Random(f"{category}:{number}").sample(pool, min(examples, len(pool)))
    return Item(
        id=f"{category}-grown-{number:05d}",
        values={"category": category.replace("_", " "),
                "examples": "\n".join(f"Situation: {s.situation}" for s in shots)},
    )


@dataclass
class Growth:
    """One category's growth so far."""

    category: str
    missing: int
    limit: int
    """Candidates it may try: seeds.max_candidates per missing seed."""
    pool: list[Seed]
    tried: int = 0
    kept: list[Seed] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return len(self.kept) < self.missing and self.tried < self.limit

    def next_numbers(self) -> range:
        """The next round: as many candidates as seeds are still missing."""
        end = min(self.tried + self.missing - len(self.kept), self.limit)
        return range(self.tried, end)


@dataclass
class SeedSet:
    seeds: list[Seed]
    rejects: list[Reject]
    metrics: dict


def build_seed_set(params: Params, generator_factory) -> SeedSet:
    """Read, dedupe, select and (where short) grow the seeds; `generator_factory(stage)` opens a
    Generator context and is only called when some category must grow."""
    scale, near_dup = params.scale, params.filter.near_dup
    seeds, known = load_seed_files(params.seeds.files, params.seeds.columns)
    from_files, rejects = dedupe(seeds, "situation", near_dup, STAGE, priority=None)
    wanted = scale.categories or known
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise UserError(f"params.yaml: scale.categories: unknown categories {unknown} (known: {known})")
    by_category = {c: [s for s in from_files if s.category == c] for c in wanted}
    growing = [
        Growth(c, missing, math.ceil(params.seeds.max_candidates * missing), by_category[c])
        for c in wanted
        if (missing := scale.seeds_per_category - len(by_category[c])) > 0
    ]
    tokens = 0
    if growing:
        stage = seed_stage(params)
        for g in growing:
            if not g.pool:
                raise UserError(f"scale.seeds_per_category={scale.seeds_per_category}: category {g.category!r} "
                                "has no seeds in the seed files to write new ones from; add a few")
        with generator_factory(stage) as generator:
            rejects += grow(growing, stage, generator, from_files, params)
            tokens = generator.stats.completion_tokens
            print(f"{STAGE}: model calls {generator.stats.model_calls}, cache hits {generator.stats.cache_hits}",
                  file=sys.stderr)
    grown = {g.category: g.kept for g in growing}
    chosen = [s for c in wanted for s in by_category[c][: scale.seeds_per_category] + grown.get(c, [])]
    return SeedSet(chosen, rejects, seed_metrics(chosen, rejects, growing, tokens))


def grow(growing: list[Growth], stage: GenerationStage, generator: Generator, context: list[Seed],
         params: Params) -> list[Reject]:
    """Rounds of candidates for every still-short category at once (so batched decoding stays
    full), until each has its missing seeds or has tried its limit; returns the rejects."""
    rejects: list[Reject] = []
    while active := [g for g in growing if g.active]:
        batch = [(g, n) for g in active for n in g.next_numbers()]
        inputs = [(g.category, candidate(g.category, n, g.pool, params.seeds.examples)) for g, n in batch]
        outcomes = generator.run([item for _, item in inputs])
        for g in active:
            mine = [(inp, out) for (owner, _), inp, out in zip(batch, inputs, outcomes) if owner is g]
            written, failed = build_records(stage, [i for i, _ in mine], [o for _, o in mine])
            rejects += failed
            g.tried += len(mine)
            before = context + g.kept
            kept, dropped = dedupe(before + written, "situation", params.filter.near_dup, STAGE, priority=None)
            assert kept[: len(before)] == before, "dedupe let a later seed drop an earlier one"
            g.kept = kept[len(context):]
            rejects += dropped
    return rejects


def seed_metrics(chosen: list[Seed], rejects: list[Reject], growing: list[Growth], tokens: int) -> dict:
    grown = [s for s in chosen if s.source == "grown"]
    texts = sample_by_id([s.id for s in chosen], [s.situation for s in chosen], DIVERSITY_SAMPLE)
    return {
        "seeds": len(chosen),
        "from_files": len(chosen) - len(grown),
        "grown": len(grown),
        "candidates": sum(g.tried for g in growing),
        "missing": sum(g.missing - len(g.kept) for g in growing),
        "rejected": dict(sorted(Counter(r.reason for r in rejects).items())),
        "completion_tokens": tokens,
        "diversity": {
            "distinct_2": round(distinct_n(texts, 2), 4),
            "nearest_neighbour_similarity": nearest_neighbour_similarity(texts),
        },
    }
