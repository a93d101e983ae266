"""How the filter's checks agree with hand labels (tests/data/gate_labels.jsonl: raw pairs a reader
kept or dropped, with reasons): read by the test suite, which holds each gate to its measured
floor, and by benchmarks/gate_benchmark.py, which publishes the figures (benchmarks/QUALITY.md)."""

from __future__ import annotations

import json
from pathlib import Path

from synthempathy.core.records import Pair


def load_gate_labels(path: Path) -> list[tuple[Pair, dict]]:
    """(pair, label) per line; the label holds `keep` (bool) and `reasons` (list)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        label = {"keep": row.pop("label") == "keep", "reasons": row.pop("reasons")}
        for unused in ("variant", "note"):
            row.pop(unused, None)
        rows.append((Pair.model_validate({**row, "provenance": {}}), label))
    return rows


def agreement(flags: list[bool], rows: list[tuple[Pair, dict]], reason: str | None) -> dict:
    """How a check's flags (one per row) agree with the labels: flagged, precision (flagged pairs
    labelled drop), right_why (flagged pairs labelled with `reason`), recall (of the pairs
    labelled with `reason`, or of all drops when `reason` is None)."""
    flagged = [label for flag, (_, label) in zip(flags, rows) if flag]
    wanted = [flag for flag, (_, label) in zip(flags, rows) if reason is None and not label["keep"]
              or reason is not None and reason in label["reasons"]]
    return {"flagged": len(flagged),
            "precision": round(sum(not lab["keep"] for lab in flagged) / len(flagged), 3) if flagged else None,
            **({"right_why": round(sum(reason in lab["reasons"] for lab in flagged) / len(flagged), 3)
                if flagged else None} if reason else {}),
            "recall": round(sum(wanted) / len(wanted), 3) if wanted else None, "labelled": len(wanted)}
