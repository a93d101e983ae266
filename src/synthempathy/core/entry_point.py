"""The entry points every stage script and the CLI run under.

`entry_point` turns a UserError into one line on stderr and exit code 2, and makes a
crash in native code name itself. `stage` adds what every pipeline stage shares: the
files it reads and writes come from dvc.yaml's `cmd` as `--name PATH` options, so
dvc.yaml names each path once, beside the deps and outs DVC checks it against
(tests/test_dvc_wiring.py holds every option to a dep or an out). The generating
stages' shared skeleton is generation/generating_stage.py.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from synthempathy.core.errors import UserError

Files = argparse.Namespace
"""A stage's files, one attribute per name its `stage(reads=..., writes=...)` lists."""


def entry_point(main: Callable[..., None]) -> Callable[..., None]:
    """Run `main`, turning UserError into one line on stderr and exit code 2.

    A crash in native code (llama.cpp: SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGABRT)
    would otherwise end the process with nothing but DVC's `exited with -4`;
    faulthandler prints the signal and every thread's Python stack first, so the
    log shows which call died (README, "When things go wrong"). It writes to a copy of fd 2
    because model loading points fd 2 at /dev/null for a while.
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


def stage(*, reads: Sequence[str] = (), writes: Sequence[str], many: Sequence[str] = ()
          ) -> Callable[[Callable[[Files], None]], Callable[[], None]]:
    """A pipeline stage: `main(files)` gets one required `--name PATH` option per name in `reads`
    and `writes` (underscores become dashes: `story_rejects` is `--story-rejects`); a name in
    `many` takes one or more paths. tests/test_dvc_wiring.py reads the two lists from the
    script's source: every read must be a dep of its dvc.yaml stage, every write an out."""
    duplicated = set(reads) & set(writes)
    if duplicated:
        raise ValueError(f"read and written: {sorted(duplicated)}")

    def decorate(main: Callable[[Files], None]) -> Callable[[], None]:
        parser = argparse.ArgumentParser(description=(sys.modules[main.__module__].__doc__ or "").split("\n\n")[0])
        for group, names in (("files read", reads), ("files written", writes)):
            options = parser.add_argument_group(group)
            for name in names:
                options.add_argument(f"--{name.replace('_', '-')}", dest=name, required=True, metavar="PATH",
                                     nargs="+" if name in many else None)

        @entry_point
        def run(argv: Sequence[str] | None = None) -> None:
            main(parser.parse_args(argv))

        return run

    return decorate
