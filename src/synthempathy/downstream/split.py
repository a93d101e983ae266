"""Which pairs the downstream model trains on and which prompts it is measured on.

Held out by seed situation, not by pair: every story of a seed retells the same stressor, so a
pair-level split would let the tuned model see near-copies of its test prompts. A share of the seed
ids, chosen by a seeded hash (stable when seeds are added), is held out; the prompts are the
explanations the rewrite stage wrote for those seeds (data/explanations/explanations.jsonl) that pass
the filter's checks on explanations, whether or not their pair survived the filter (the prompt is the
seeker's text, not the corpus's answer), and
no corpus pair of a held-out seed is trained on. Optionally, seeker posts of EPITOME's test split
(real Reddit text; research-only) are prompts too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from synthempathy.core.errors import UserError
from synthempathy.core.jsonl import read_records
from synthempathy.core.params import DownstreamParams, FilterParams
from synthempathy.core.records import EpitomeExample, Explanation, HeldOutPrompt, Pair
from synthempathy.quality.gates import explanation_problem


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def held_out_seeds(seed_ids: Sequence[str], share: float, seed: int) -> set[str]:
    """round(share x seeds) seed ids, at least one and never all, chosen by a seeded hash of each id
    alone, so adding seeds never moves one that was already held out into training or back."""
    ids = sorted(set(seed_ids))
    if len(ids) < 2:
        raise UserError(f"downstream: the explanations grew from {len(ids)} seed situation(s); holding some out "
                        "for testing needs at least 2 (raise scale.seeds_per_category)")
    count = min(len(ids) - 1, max(1, round(share * len(ids))))
    return set(sorted(ids, key=lambda i: _rank(seed, i))[:count])


def split(pairs: Sequence[Pair], explanations: Sequence[Explanation], params: DownstreamParams,
          checks: FilterParams) -> tuple[list[Pair], list[HeldOutPrompt]]:
    """(pairs to train on, held-out prompts), both in id order. A held-out explanation is a prompt only
    when it passes the filter's checks on explanations (`checks`: a post a seeker could have written)."""
    held = held_out_seeds([e.seed_id for e in explanations] + [p.seed_id for p in pairs], params.held_out_share,
                          params.seed)
    train = sorted((p for p in pairs if p.seed_id not in held), key=lambda p: p.id)
    prompts = sorted((HeldOutPrompt(id=e.id, source="held_out", category=e.category, explanation=e.explanation)
                      for e in explanations if e.seed_id in held and explanation_problem(e, checks) is None),
                     key=lambda p: p.id)
    if params.max_prompts is not None:
        prompts = sorted(sorted(prompts, key=lambda p: _rank(params.seed, p.id))[:params.max_prompts],
                         key=lambda p: p.id)
    if not train:
        raise UserError(f"downstream.held_out_share: the corpus has no pair outside the {len(held)} held-out seed "
                        f"situation(s) ({len(pairs)} pairs in all), so there is nothing to train on")
    if not prompts:
        raise UserError(f"downstream: no explanation of the {len(held)} held-out seed situation(s) "
                        "that passes the filter's checks on explanations")
    return train, prompts


def epitome_prompts(count: int, seed: int, path: str | Path) -> list[HeldOutPrompt]:
    """`count` distinct seeker posts of EPITOME's test split (the calibration pipeline's), by seeded hash."""
    if not count:
        return []
    if not Path(path).is_file():
        raise UserError(f"downstream.epitome_prompts: {path} not found; it is EPITOME's test split, written by "
                        "`dvc repro calibration/dvc.yaml` from your copy of EPITOME (or set it to 0)")
    posts = {e.seeker_id: e.seeker_post for e in read_records(path, EpitomeExample)}
    chosen = sorted(sorted(posts, key=lambda i: _rank(seed, i))[:count])
    return [HeldOutPrompt(id=f"epitome-{i}", source="epitome", category="epitome", explanation=posts[i])
            for i in chosen]
