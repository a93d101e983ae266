"""The entry point every stage script runs under: one-line errors and native-crash reports.

A stage script in stages/ says what it reads, builds and writes; `entry_point` turns a
UserError into one line on stderr and exit code 2, and makes a crash in native code name
itself. The generating stages' shared skeleton is generation/generating_stage.py.
"""

from __future__ import annotations

import faulthandler
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

from synthempathy.core.errors import UserError

def entry_point(main: Callable[..., None]) -> Callable[..., None]:
    """Run `main`, turning UserError into one line on stderr and exit code 2.

    A crash in native code (llama.cpp: SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGABRT)
    would otherwise end the process with nothing but DVC's `exited with -4`;
    faulthandler prints the signal and every thread's Python stack first, so the
    log shows which call died (README, "When things go wrong"). It writes to a
    copy of fd 2 because model loading points fd 2 at /dev/null for a while.
    """

    @wraps(main)
    def wrapper(*args: Any) -> None:
        faulthandler.enable(file=os.fdopen(os.dup(sys.stderr.fileno()), "w"), all_threads=True)
        try:
            main(*args)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(exc.exit_code) from None

    return wrapper
