"""What every stage script shares: error handling and the generation skeleton.

A stage script in stages/ says what it reads, how it builds prompt variables
and records, and where it writes; this module does the rest the same way for
all of them: validate params before any model loads, open the request cache,
load the model only if a call misses the cache, write outputs atomically, print
a one-line summary.
"""

from __future__ import annotations

import faulthandler
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any

from pydantic import BaseModel

from .cache import RequestCache
from .errors import UserError
from .generate import Generator, Item, Outcome, Step
from .jsonl import write_json, write_records
from .llm import make_backend
from .params import GenerationParams, LLMParams, Params, SamplingParams
from .prompts import load_grammar, load_template
from .records import Reject


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


Postprocess = Callable[[list, Params], tuple[list, list[Reject]]]
"""Runs on a stage's kept records before writing (e.g. dedupe); returns (kept, dropped)."""


@dataclass(frozen=True)
class GenerationStage:
    """The parts that differ between brainstorm, rewrite and respond."""

    name: str
    variables: set[str]
    """Template placeholders this stage fills."""
    steps: tuple[Step, ...]
    """Output fields in generation order (see generate.Step)."""
    build: Callable[[Any, Item, dict[str, str], dict], BaseModel]
    """(input record, item, parsed fields, provenance so far) -> output record."""
    sampling: SamplingParams
    """The stage's params section (sampling settings, recorded in provenance)."""
    prompt: str
    """Template path, relative to the project root."""
    grammar: str | None = None
    """GBNF text constraining every step's output."""
    llm: LLMParams | None = None
    """Model settings when they differ from params.llm (the judge's own model)."""
    check: Callable[[dict[str, str]], str | None] | None = None
    """Validates an attempt's fields; a problem means retry with a new seed (see Generator)."""

    @classmethod
    def of(cls, params: GenerationParams, prompt: str | None = None, **parts: Any) -> GenerationStage:
        """A stage that takes its sampling, prompt and grammar file from its params section."""
        grammar = load_grammar(params.grammar, f"{parts['name']}.grammar") if params.grammar else None
        return cls(sampling=params, prompt=prompt or params.prompt, grammar=grammar, **parts)


@contextmanager
def generator_for(stage: GenerationStage, params: Params) -> Iterator[Generator]:
    """A Generator for `stage` with the request cache open; the model loads on the first cache miss."""
    template = load_template(stage.prompt, stage.variables)
    llm = stage.llm or params.llm
    cache = RequestCache()
    backend = make_backend(llm)
    try:
        yield Generator(stage.name, template, stage.sampling, llm, backend, cache, stage.steps,
                        stage.grammar, stage.check)
    finally:
        backend.close()
        cache.close()


def build_records(stage: GenerationStage, inputs: Sequence[tuple[Any, Item]],
                  outcomes: Sequence[Outcome]) -> tuple[list[BaseModel], list[Reject]]:
    """(kept records, rejects) from a run's outcomes; each record's provenance gains this stage's."""
    kept, rejects = [], []
    for (record, item), outcome in zip(inputs, outcomes):
        if outcome.fields is None:
            rejects.append(reject_of(stage.name, outcome))
            continue
        provenance = dict(getattr(record, "provenance", {}) or {})
        provenance[stage.name] = outcome.provenance
        kept.append(stage.build(record, item, outcome.fields, provenance))
    return kept, rejects


def run_generation(stage: GenerationStage, params: Params, inputs: Sequence[tuple[Any, Item]],
                   out_path: str, rejects_path: str, metrics_path: str,
                   postprocess: Postprocess | None = None, extra_metrics: dict | None = None) -> list[BaseModel]:
    """Generate one output per input, write outs, rejects and metrics; return the kept records."""
    with generator_for(stage, params) as generator:
        outcomes = generator.run([item for _, item in inputs])
    kept, rejects = build_records(stage, inputs, outcomes)
    dropped: list[Reject] = []
    if postprocess is not None:
        kept, dropped = postprocess(kept, params)
        rejects += dropped
    write_records(out_path, kept)
    write_records(rejects_path, rejects)
    stats = generator.stats
    metrics = {
        "items": stats.items,
        "kept": len(kept),
        "rejected": dict(sorted(Counter(r.reason for r in rejects).items())),
        "retries": stats.retries,
        "completion_tokens": stats.completion_tokens,
        **(extra_metrics or {}),
    }
    write_json(metrics_path, metrics)
    print(stats.summary(stage.name), file=sys.stderr)
    if dropped:
        print(f"{stage.name}: then dropped {len(dropped)} duplicates -> {len(kept)} written", file=sys.stderr)
    return kept


def reject_of(stage: str, outcome: Outcome) -> Reject:
    return Reject(id=outcome.item.id, stage=stage, reason=outcome.reason, detail=outcome.detail,
                  record={"values": outcome.item.values})
