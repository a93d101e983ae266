"""Content-addressed request cache (SQLite, WAL), kept outside DVC outs.

Every LLM call is stored under the hash of everything that determines its
output: the backend's identity (model file sha256, prompt format, batch rows,
CPU repacking, GPU layers, and the implementation: our backend's revision and
the llama-cpp-python version), the full prompt text, sampling params, grammar
and per-call seed. A stage that was killed re-runs and pays only for calls it had
not finished; a stage re-run after a downstream-only change (or after its
outputs were deleted) never loads the model at all. Each result is committed
as soon as it arrives.

Default location: $SYNTHEMPATHY_CACHE_DIR or ~/.cache/synthempathy, shared by
every checkout and `dvc exp run --temp` copy, which is safe because keys are
content hashes. To rebuild, delete requests.sqlite* in that folder.

One RequestCache may be shared by threads (the generation driver's workers):
every statement runs under a lock on the one connection.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from synthempathy.core.errors import UserError

CACHE_ENV = "SYNTHEMPATHY_CACHE_DIR"
SCHEMA_VERSION = 1


def default_cache_path() -> Path:
    base = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "synthempathy"
    return Path(base) / "requests.sqlite"


def request_key(**parts: Any) -> str:
    """sha256 of the canonical JSON of every input that determines an output."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class RequestCache:
    """get/put of JSON results by key, counting hits and misses."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_cache_path()
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            ok = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if ok != "ok":
                raise sqlite3.DatabaseError(ok)
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS requests (key TEXT PRIMARY KEY, result TEXT NOT NULL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS speeds (stage TEXT NOT NULL, model_sha256 TEXT NOT NULL, "
                             "rows INTEGER NOT NULL, tokens INTEGER NOT NULL, seconds REAL NOT NULL)")
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            version = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        if version != str(SCHEMA_VERSION):
            raise UserError(f"request cache {self.path} has schema {version}, expected {SCHEMA_VERSION}; {self._rebuild_hint()}")

    def _rebuild_hint(self) -> str:
        return f"delete {self.path}* to rebuild it (results are regenerated on the next run)"

    def _corrupt(self, exc: Exception) -> UserError:
        return UserError(f"request cache {self.path} is unreadable or corrupt ({exc}); {self._rebuild_hint()}")

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            with self._lock:
                row = self._db.execute("SELECT result FROM requests WHERE key=?", (key,)).fetchone()
                if row is None:
                    self.misses += 1
                else:
                    self.hits += 1
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except json.JSONDecodeError as exc:
            raise self._corrupt(exc) from None

    def put(self, key: str, result: dict[str, Any]) -> None:
        blob = json.dumps(result, sort_keys=True, ensure_ascii=False)
        try:
            with self._lock:
                self._db.execute("INSERT OR REPLACE INTO requests VALUES (?, ?)", (key, blob))
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None

    def record_speed(self, stage: str, model_sha256: str, rows: int, tokens: int, seconds: float) -> None:
        """Remember how fast a run generated (model tokens over wall seconds), for `synthempathy plan`.
        Timing lives only here: outputs, metrics and keys never see it."""
        with self._lock:
            self._db.execute("INSERT INTO speeds VALUES (?, ?, ?, ?, ?)", (stage, model_sha256, rows, tokens, seconds))

    def speed(self, stage: str, model_sha256: str, rows: int, last: int = 5) -> float | None:
        """Generated tokens per second over the stage's last `last` recorded runs, or None."""
        with self._lock:
            found = self._db.execute(
                "SELECT SUM(tokens), SUM(seconds) FROM (SELECT tokens, seconds FROM speeds WHERE stage=? AND "
                "model_sha256=? AND rows=? ORDER BY rowid DESC LIMIT ?)", (stage, model_sha256, rows, last),
            ).fetchone()
        return found[0] / found[1] if found and found[1] else None

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
