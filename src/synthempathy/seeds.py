"""Load the stressor seed taxonomy and pick the seeds a run uses.

The paper seeded generation with the Stress Annotated Dataset (SAD), which is
not available offline; we ship our own taxonomy in the same spirit. Each seed
has an explicit, hand-written id so that adding a seed never renames others
(ids feed record ids, per-call seeds and the request cache).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .errors import UserError
from .params import ScaleParams
from .records import Seed

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def load_seeds(path: str | Path) -> list[Seed]:
    """All seeds in file order; every problem is a UserError naming file and entry."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: seed file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    categories = raw.get("categories") if isinstance(raw, dict) else None
    if not isinstance(categories, dict) or not categories:
        raise UserError(f"{path}: expected a non-empty `categories:` mapping of category -> list of seeds")
    seeds: list[Seed] = []
    seen: set[str] = set()
    for category, entries in categories.items():
        if not isinstance(entries, list) or not entries:
            raise UserError(f"{path}: category {category!r} has no seeds")
        for n, entry in enumerate(entries, start=1):
            where = f"{path}: {category}[{n}]"
            if not isinstance(entry, dict) or set(entry) != {"id", "situation"}:
                raise UserError(f"{where}: each seed needs exactly `id` and `situation`")
            seed_id, situation = str(entry["id"]), str(entry["situation"]).strip()
            if not ID_PATTERN.match(seed_id):
                raise UserError(f"{where}: id {seed_id!r} must be lowercase letters, digits, - or _")
            if seed_id in seen:
                raise UserError(f"{where}: duplicate seed id {seed_id!r}")
            if not situation:
                raise UserError(f"{where}: empty situation")
            seen.add(seed_id)
            seeds.append(Seed(id=seed_id, category=str(category), situation=situation))
    return seeds


def select_seeds(seeds: list[Seed], scale: ScaleParams) -> list[Seed]:
    """The first `seeds_per_category` seeds of each selected category, in file order."""
    known = list(dict.fromkeys(s.category for s in seeds))
    wanted = scale.categories or known
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise UserError(f"params.yaml: scale.categories: unknown categories {unknown} (known: {known})")
    picked = []
    for category in wanted:
        picked += [s for s in seeds if s.category == category][: scale.seeds_per_category]
    return picked
