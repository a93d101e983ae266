"""JSONL reading and writing with the guarantees a DVC stage needs.

Reads name the file and line of a broken record. Writes go to a temp file in
the same folder and are renamed into place, so a killed or failing stage never
leaves a half-written output that DVC could mistake for a result, and a
previous output stays intact until the new one is complete.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from synthempathy.core.errors import UserError

M = TypeVar("M", bound=BaseModel)


def read_records(path: str | Path, model: type[M]) -> list[M]:
    """Parse every line of `path` as `model`; a bad line is a UserError naming it."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: input file not found (run the upstream stage first: dvc repro)")
    records = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                records.append(model.model_validate_json(line))
            except ValidationError as exc:
                first = exc.errors()[0]
                what = ".".join(str(p) for p in first["loc"]) or "line"
                problem = "not valid JSON" if first["type"] == "json_invalid" else f"{what}: {first['msg']}"
                raise UserError(f"{path}:{lineno}: {problem}") from None
    return records


def dumps(record: BaseModel | dict) -> str:
    """Canonical one-line JSON: stable key order from the model, UTF-8 kept readable."""
    data = record.model_dump(mode="json") if isinstance(record, BaseModel) else record
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def write_atomic(path: str | Path, content: str | bytes) -> None:
    """Write `content` (text as UTF-8, or bytes as they are) to `path` via temp file + fsync + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with (os.fdopen(fd, "wb") if isinstance(content, bytes)
              else os.fdopen(fd, "w", encoding="utf-8", newline="\n")) as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise UserError(f"{path}: could not write output ({exc.strerror or exc}); previous file left intact") from None
        raise


def write_records(path: str | Path, records: Iterable[BaseModel | dict]) -> int:
    lines = [dumps(r) + "\n" for r in records]
    write_atomic(path, "".join(lines))
    return len(lines)


def write_json(path: str | Path, data: dict | list) -> None:
    """Pretty JSON for metrics files, keys sorted so diffs stay small."""
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    """A small CSV (plot data for `dvc plots`), written atomically with newline line ends."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_atomic(path, buf.getvalue())
