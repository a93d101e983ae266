"""EPITOME's human-labelled Reddit pairs: loading, a leak-free dev/test split, samples.

EPITOME (Sharma et al., 2020) ships one CSV per mechanism with columns
sp_id, rp_id, seeker_post, response_post, level, rationales; the three list
the same (seeker post, response) pairs. The data is research-only, so it is
never copied into this repository: users put their own copy into
data/epitome/ (README, "Calibrate the judge").

Conflicting labels: 60 pairs appear more than once, and for 19 of them the
repeats disagree on at least one mechanism (25 labels in all). Such a pair is
dropped whole, since there is no telling which annotation is right; agreeing
repeats collapse to one pair. 3,004 of the 3,023 pairs remain.

The split is by seeker post: every response to one post lands on the same
side, so a judge tuned on dev never saw a test post. Membership comes from a
hash of (seed, post id), so it does not depend on file order, and samples are
the pairs with the smallest hash of (seed, pair), so raising the sample size
keeps every pair already judged (and its cached judgement).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping
from pathlib import Path

from synthempathy.core.errors import UserError
from synthempathy.core.jsonl import read_records
from synthempathy.core.records import EpitomeExample, LabelledPair
from synthempathy.epitome.scores import MECHANISMS

EPITOME_FILES = {
    "emotional_reaction": "emotional-reactions-reddit.csv",
    "interpretation": "interpretations-reddit.csv",
    "exploration": "explorations-reddit.csv",
}
"""EPITOME's file per mechanism, as its repository names them."""
COLUMNS = ("sp_id", "rp_id", "seeker_post", "response_post", "level")
FETCH_HINT = ("fetch EPITOME's dataset/*.csv from github.com/behavioral-data/Empathy-Mental-Health "
              "into data/epitome/ (README, 'Calibrate the judge')")


def _read_levels(path: Path) -> list[tuple[tuple[str, str], str, str, int, str]]:
    if not path.is_file():
        raise UserError(f"{path}: EPITOME file not found; {FETCH_HINT}")
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{path}:1: missing column(s) {', '.join(missing)} (expected EPITOME's {', '.join(COLUMNS)})")
        for row in reader:
            if row["level"] not in ("0", "1", "2"):
                raise UserError(f"{path}:{reader.line_num}: level must be 0, 1 or 2, not {row['level']!r}")
            rows.append(((row["sp_id"], row["rp_id"]), row["seeker_post"], row["response_post"], int(row["level"]),
                         row.get("rationales") or ""))
    return rows


def load_epitome(directory: str | Path) -> tuple[list[EpitomeExample], int]:
    """load_epitome_files for a folder holding EPITOME's three CSVs under their own names."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"{directory}: EPITOME directory not found; {FETCH_HINT}")
    return load_epitome_files({mechanism: directory / name for mechanism, name in EPITOME_FILES.items()})


def load_epitome_files(files: Mapping[str, str | Path]) -> tuple[list[EpitomeExample], int]:
    """Every pair with its three human labels, in file order, from each mechanism's CSV (`files`);
    and how many conflicting pairs were dropped."""
    texts: dict[tuple[str, str], tuple[str, str]] = {}
    levels: dict[tuple[str, str], dict[str, set[int]]] = {}
    rationales: dict[tuple[str, str], dict[str, str]] = {}
    for mechanism in MECHANISMS:
        for key, seeker, response, level, spans in _read_levels(Path(files[mechanism])):
            texts.setdefault(key, (seeker, response))
            levels.setdefault(key, {m: set() for m in MECHANISMS})[mechanism].add(level)
            rationales.setdefault(key, {}).setdefault(mechanism, spans)  # an agreeing repeat: the first row's
    pairs, conflicts = [], 0
    for key, (seeker, response) in texts.items():
        by_mechanism = levels[key]
        if any(len(by_mechanism[m]) != 1 for m in MECHANISMS):
            conflicts += 1  # disagreeing repeats, or a pair absent from one of the files
            continue
        pairs.append(EpitomeExample(id=f"{key[0]}-{key[1]}", seeker_id=key[0], seeker_post=seeker, response_post=response,
                                    rationales={m: s for m, s in rationales[key].items() if s},
                                    **{m: next(iter(by_mechanism[m])) for m in MECHANISMS}))
    return pairs, conflicts


def _unit(seed: int, *parts: str) -> float:
    """A stable number in [0, 1) for (seed, parts)."""
    digest = hashlib.sha256("\x1f".join([str(seed), *parts]).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_by_seeker(pairs: list[EpitomeExample], dev_share: float, seed: int) -> tuple[list[EpitomeExample], list[EpitomeExample]]:
    """(dev, test): a seeker post and all its responses go to one side."""
    in_dev = {p.seeker_id: _unit(seed, "split", p.seeker_id) < dev_share for p in pairs}
    return [p for p in pairs if in_dev[p.seeker_id]], [p for p in pairs if not in_dev[p.seeker_id]]


def sample(pairs: list[EpitomeExample], n: int | None, seed: int) -> list[EpitomeExample]:
    """`n` pairs (all when n is None), the same ones for the same seed, a superset for a larger n."""
    ranked = sorted(pairs, key=lambda p: _unit(seed, "sample", p.id))
    return ranked if n is None else ranked[:n]


def read_synthetic(path: str | Path) -> list[EpitomeExample]:
    """Hand-labelled synthetic-style pairs (tests/data/synthetic_epitome.jsonl, calibration/synthetic_train.jsonl)
    in EPITOME's shape,
    each its own seeker post, so every judge scores them the way it scores EPITOME's test pairs."""
    return [EpitomeExample(id=p.id, seeker_id=p.id, seeker_post=p.explanation, response_post=p.response,
                           rationales=p.rationales, **{m: getattr(p, m) for m in MECHANISMS})
            for p in read_records(path, LabelledPair)]
