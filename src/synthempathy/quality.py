"""Quality gates: each check names why a record is dropped.

Checks run in a fixed order and the first failing one is the reject reason,
so every dropped pair has exactly one reason in the rejects file and the
metrics funnel adds up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from .dedupe import NearDupParams, find_duplicates
from .params import FilterParams, Params
from .records import Reject
from .toxicity import ToxicityParams, flag_toxic, make_scorer

TERMINAL = re.compile(r"""[.!?…]["'”’)\]]*$""")

Check = Callable[[str, str, FilterParams], "tuple[str, str] | None"]
"""(field name, text, params) -> (reason, detail) or None when the text passes."""


def words(text: str) -> int:
    return len(text.split())


def check_empty(field: str, text: str, p: FilterParams):
    return ("empty", field) if not text.strip() else None


def check_length(field: str, text: str, p: FilterParams):
    n = words(text)
    if field in p.min_words and n < p.min_words[field]:
        return "too_short", f"{field}: {n} words < {p.min_words[field]}"
    if field in p.max_words and n > p.max_words[field]:
        return "too_long", f"{field}: {n} words > {p.max_words[field]}"
    return None


def check_template_leak(field: str, text: str, p: FilterParams):
    hit = next((m for m in p.leak_markers if m in text), None)
    return ("template_leak", f"{field}: contains {hit!r}") if hit else None


def check_refusal(field: str, text: str, p: FilterParams):
    low = text.lower()
    hit = next((m for m in p.refusal_markers if m.lower() in low), None)
    return ("refusal", f"{field}: contains {hit!r}") if hit else None


def check_repeated_lines(field: str, text: str, p: FilterParams):
    seen: set[str] = set()
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        key = " ".join(sentence.lower().split())
        if words(key) >= 4:
            if key in seen:
                return "repetition", f"{field}: repeats {sentence.strip()[:60]!r}"
            seen.add(key)
    return None


def check_cut_off(field: str, text: str, p: FilterParams):
    return ("cut_off", f"{field}: ends with {text.strip()[-30:]!r}") if not TERMINAL.search(text.strip()) else None


CHECKS: tuple[Check, ...] = (
    check_empty, check_template_leak, check_refusal, check_repeated_lines, check_cut_off, check_length,
)


def first_problem(record: BaseModel, fields: Sequence[str], p: FilterParams) -> tuple[str, str] | None:
    """The first failing check over `fields` of `record`, or None if all pass."""
    for check in CHECKS:
        for field in fields:
            problem = check(field, getattr(record, field), p)
            if problem:
                return problem
    return None


def drop_toxic(records: Sequence[BaseModel], fields: Sequence[str], params: ToxicityParams,
               stage: str) -> tuple[list, list[Reject]]:
    """Score every field of every record in batches; drop records with any label over threshold."""
    if not params.enabled or not records:
        return list(records), []
    scorer = make_scorer(params, progress=True)
    scores = scorer.score([getattr(r, f) for r in records for f in fields])
    kept, dropped = [], []
    for i, record in enumerate(records):
        hits = [(f, flag_toxic(scores[i * len(fields) + j], params.thresholds)) for j, f in enumerate(fields)]
        hits = [(f, hit) for f, hit in hits if hit]
        if not hits:
            kept.append(record)
            continue
        field, (label, score) = max(hits, key=lambda h: h[1][1])
        dropped.append(Reject(id=record.id, stage=stage, reason="toxic", detail=f"{field}: {label}",
                              score=round(score, 4), record=record.model_dump(mode="json")))
    return kept, dropped


def dedupe(records: Sequence[BaseModel], field: str, params: NearDupParams, stage: str) -> tuple[list, list[Reject]]:
    """Drop exact and near duplicates of `field`; the first by id wins, input order is kept."""
    ordered = sorted(records, key=lambda r: r.id)
    found = find_duplicates([getattr(r, field) for r in ordered], params) if params.enabled else []
    drop = {ordered[d.index].id: d for d in found}
    kept, dropped = [], []
    for record in records:
        dup = drop.get(record.id)
        if dup is None:
            kept.append(record)
            continue
        dropped.append(Reject(
            id=record.id, stage=stage, reason=f"{dup.kind}_duplicate", detail=field,
            score=round(dup.score, 2), duplicate_of=ordered[dup.of_index].id,
            record=record.model_dump(mode="json"),
        ))
    return kept, dropped


def dedupe_field(field: str, stage: str) -> Callable[[list, Params], tuple[list, list[Reject]]]:
    """A generation-stage postprocess that dedupes `field` with the filter.near_dup params."""

    def postprocess(records: list, params: Params) -> tuple[list, list[Reject]]:
        return dedupe(records, field, params.filter.near_dup, stage)

    return postprocess
