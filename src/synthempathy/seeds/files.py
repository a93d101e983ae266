"""Read stressor seeds from the files `seeds.files` lists: the shipped taxonomy and your own.

Two shapes are accepted:
- a taxonomy (YAML): `categories:` mapping each category to a list of `{id, situation}`.
  It is what `data/seeds/stressors.yaml` is, and it declares which categories exist;
- rows (CSV with a header, JSONL, or a YAML list of mappings): one stressor sentence
  and its category a row, with an optional id, as the Stress Annotated Dataset (SAD)
  ships them. `seeds.columns` names the columns.

A row without an id gets one derived from its category and text, so it stays the
same however the file is reordered or grown (ids feed record ids, per-call seeds
and the request cache). Every bad row is a UserError naming file:line.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from synthempathy.core.errors import UserError
from synthempathy.core.records import Seed
from synthempathy.quality.dedupe import normalize

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
GROWN_ID = re.compile(r"-grown-\d+$")
"""Ids the seeds stage gives the situations it writes: <category>-grown-<number>."""


@dataclass(frozen=True)
class Row:
    """One seed as read, before validation: where it came from and its raw values."""

    where: str
    """file:line, for errors and the seed's `source`."""
    text: Any
    category: Any
    id: Any = None


def category_key(name: Any) -> str:
    """'Emotional Turmoil' and 'emotional-turmoil' both become 'emotional_turmoil'."""
    return re.sub(r"[\s-]+", "_", str(name).strip().lower())


def derived_id(category: str, text: str) -> str:
    """A content id: the category and a hash of the normalised text."""
    return f"{category}-{hashlib.sha256(normalize(text).encode('utf-8')).hexdigest()[:12]}"


# -- reading each format, keeping line numbers ----------------------------------------------------

def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: seed file not found") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _yaml_node(path: Path, text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None


def _scalar(node: yaml.Node) -> Any:
    """A YAML node's plain value (the file's own types, via the safe constructor)."""
    return yaml.SafeLoader("").construct_object(node, deep=True)


def _mapping(node: yaml.Node) -> dict[str, yaml.Node]:
    return {str(_scalar(key)): value for key, value in node.value}


def _line(path: Path, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}"


def _taxonomy_rows(path: Path, root: yaml.MappingNode) -> tuple[list[Row], list[str]]:
    categories = _mapping(root).get("categories")
    if not isinstance(categories, yaml.MappingNode) or not categories.value:
        raise UserError(f"{path}: expected a non-empty `categories:` mapping of category -> list of seeds "
                        "(or a list of rows with text and category)")
    rows, declared = [], []
    for key, entries in categories.value:
        category = str(_scalar(key))
        declared.append(category)
        if isinstance(entries, yaml.ScalarNode) and _scalar(entries) is None:
            continue  # `category:` with nothing under it declares the category
        if not isinstance(entries, yaml.SequenceNode):
            raise UserError(f"{_line(path, entries)}: category {category!r} must hold a list of seeds")
        for entry in entries.value:
            if not isinstance(entry, yaml.MappingNode) or set(_mapping(entry)) != {"id", "situation"}:
                raise UserError(f"{_line(path, entry)}: each seed of category {category!r} needs exactly "
                                "`id` and `situation`")
            fields = _mapping(entry)
            rows.append(Row(_line(path, entry), _scalar(fields["situation"]), category, _scalar(fields["id"])))
    return rows, declared


def _yaml_rows(path: Path, text: str, columns: dict[str, str]) -> tuple[list[Row], list[str]]:
    root = _yaml_node(path, text)
    if isinstance(root, yaml.MappingNode):
        return _taxonomy_rows(path, root)
    if not isinstance(root, yaml.SequenceNode) or not root.value:
        raise UserError(f"{path}: expected a `categories:` taxonomy or a non-empty list of rows")
    rows = []
    for node in root.value:
        if not isinstance(node, yaml.MappingNode):
            raise UserError(f"{_line(path, node)}: a row must be a mapping with {columns['text']!r} "
                            f"and {columns['category']!r}")
        rows.append(_row(_line(path, node), {k: _scalar(v) for k, v in _mapping(node).items()}, columns))
    return rows, []


def _jsonl_rows(path: Path, text: str, columns: dict[str, str]) -> list[Row]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise UserError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise UserError(f"{where}: a row must be a JSON object with {columns['text']!r} and {columns['category']!r}")
        rows.append(_row(where, value, columns))
    return rows


def _csv_rows(path: Path, text: str, columns: dict[str, str]) -> list[Row]:
    reader = csv.DictReader(text.splitlines(keepends=True))
    header = reader.fieldnames or []
    missing = [columns[c] for c in ("text", "category") if columns[c] not in header]
    if missing:
        raise UserError(f"{path}:1: header has no column {', '.join(map(repr, missing))} "
                        f"(columns: {header}; map yours with seeds.columns)")
    rows = []
    start = reader.line_num + 1
    for record in reader:
        rows.append(_row(f"{path}:{start}", record, columns))
        start = reader.line_num + 1
    return rows


def _row(where: str, values: dict[str, Any], columns: dict[str, str]) -> Row:
    for column in ("text", "category"):
        if columns[column] not in values:
            raise UserError(f"{where}: row has no {columns[column]!r} (seeds.columns.{column})")
    seed_id = values.get(columns["id"]) if columns.get("id") else None
    return Row(where, values[columns["text"]], values[columns["category"]], seed_id if seed_id != "" else None)


def read_rows(path: str | Path, columns: dict[str, str]) -> tuple[list[Row], list[str]]:
    """The file's rows in order, and the categories it declares (taxonomy files only)."""
    path = Path(path)
    text = _read_text(path)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _yaml_rows(path, text, columns)
    if suffix == ".jsonl":
        return _jsonl_rows(path, text, columns), []
    if suffix == ".csv":
        return _csv_rows(path, text, columns), []
    raise UserError(f"{path}: unknown seed file type {suffix or '(none)'!r}; use .yaml, .yml, .jsonl or .csv")


# -- validation ------------------------------------------------------------------------------------

def load_seed_files(files: list[str], columns: dict[str, str]) -> tuple[list[Seed], list[str]]:
    """Every seed of every file in file order, validated, and the declared categories.

    Categories are those the taxonomy files declare; a row of any other category is an
    error, as are an empty text and an id used twice (across all files) or shaped like
    the ids the seeds stage gives the seeds it writes.
    """
    read = [read_rows(path, columns) for path in files]
    known = list(dict.fromkeys(c for _, declared in read for c in declared))
    if not known:
        raise UserError(f"params.yaml: seeds.files: none of {files} is a taxonomy declaring the categories "
                        "(keep data/seeds/stressors.yaml in the list)")
    seeds: list[Seed] = []
    first_at: dict[str, str] = {}
    for rows, _ in read:
        for row in rows:
            seed = _validate(row, known)
            if seed.id in first_at:
                raise UserError(f"{row.where}: duplicate seed id {seed.id!r} (first at {first_at[seed.id]})")
            first_at[seed.id] = row.where
            seeds.append(seed)
    return seeds, known


def _validate(row: Row, known: list[str]) -> Seed:
    text = "" if row.text is None else " ".join(str(row.text).split())
    if not text:
        raise UserError(f"{row.where}: empty situation text")
    category = category_key(row.category) if row.category is not None else ""
    if category not in known:
        raise UserError(f"{row.where}: unknown category {row.category!r} (known: {', '.join(known)})")
    if row.id is None:
        seed_id = derived_id(category, text)
    else:
        seed_id = str(row.id).strip()
        if not ID_PATTERN.match(seed_id):
            raise UserError(f"{row.where}: id {seed_id!r} must be lowercase letters, digits, - or _")
        if GROWN_ID.search(seed_id):
            raise UserError(f"{row.where}: id {seed_id!r} looks like a grown seed's (-grown-<number>); choose another")
    return Seed(id=seed_id, category=category, situation=text, source=row.where)

