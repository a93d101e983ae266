"""The filter's checks as blocks: pairs in, (kept, rejects) out, run in the order filter.blocks lists.

Why blocks: the checks come in two shapes, a verdict on one pair at a time (the field checks and
the pair gates) and a pass over all of them (the safety policy, toxicity scored in batches,
duplicates found across pairs). Wrapping both in one contract lets the stage run a list of them
and count and write the drops in one place, and lets params.yaml choose and order them.

To add a check: write a function of the filter's settings that returns a Block (`per_pair` turns
a one-pair check into one), give it a name in BLOCKS and in `filter.blocks`, and put its settings,
if it has any, in FilterParams. Each reject names its reason; the first block to drop a pair
names it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from synthempathy.core.params import FilterParams
from synthempathy.core.records import Pair, Reject
from synthempathy.quality.dedupe import dedupe
from synthempathy.quality.gates import first_gate_problem, first_problem
from synthempathy.quality.safety import apply_policy
from synthempathy.quality.toxicity import drop_toxic

STAGE = "filter"
FIELDS = ("explanation", "response")
Block = Callable[[list[Pair]], "tuple[list[Pair], list[Reject]]"]


def per_pair(check: Callable[[Pair], "tuple[str, str] | None"]) -> Block:
    """A block from a check of one pair, which returns (reason, detail) or None."""

    def block(pairs: list[Pair]) -> tuple[list[Pair], list[Reject]]:
        kept, dropped = [], []
        for pair in pairs:
            problem = check(pair)
            if problem is None:
                kept.append(pair)
                continue
            reason, detail = problem
            dropped.append(Reject(id=pair.id, stage=STAGE, reason=reason, detail=detail,
                                  record=pair.model_dump(mode="json")))
        return kept, dropped

    return block


BLOCKS: dict[str, Callable[[FilterParams], Block]] = {
    "fields": lambda p: per_pair(lambda pair: first_problem(pair, FIELDS, p)),
    "gates": lambda p: per_pair(lambda pair: first_gate_problem(pair, p)),
    "safety": lambda p: lambda pairs: apply_policy(pairs, p.safety, STAGE),
    "toxicity": lambda p: lambda pairs: drop_toxic(pairs, FIELDS, p.toxicity, STAGE),
    "explanation_duplicates": lambda p: lambda pairs: dedupe(pairs, "explanation", p.near_dup, STAGE),
    "response_duplicates": lambda p: lambda pairs: dedupe(pairs, "response", p.near_dup, STAGE),
}
"""Every block by the name filter.blocks gives it, with what it drops for: fields (empty, leaked
scaffolding, refusal, repetition, cut off, length), gates (emotion, cause, voice, topic), safety
(filter.safety.policy), toxicity, and exact and near duplicates of each text."""


def run_blocks(pairs: Sequence[Pair], p: FilterParams) -> tuple[list[Pair], list[Reject]]:
    """The pairs every block in `p.blocks` keeps, and the drops in the pairs' order."""
    kept, dropped = list(pairs), []
    for name in p.blocks:
        kept, rejects = BLOCKS[name](p)(kept)
        dropped += rejects
    position = {pair.id: i for i, pair in enumerate(pairs)}
    return kept, sorted(dropped, key=lambda reject: position[reject.id])
