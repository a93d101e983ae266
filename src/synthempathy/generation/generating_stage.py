"""What all generating stages share: open the request cache, load the model only if a call
misses the cache, turn outcomes into records and rejects, count them, print a one-line
summary. A stage script in stages/ says what it reads, how it builds prompt variables and
records, and writes what `run_generation` returns to the paths dvc.yaml gave it.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from synthempathy.core.params import GenerationParams, LLMParams, Params, SamplingParams
from synthempathy.core.records import Reject
from synthempathy.generation.cache import RequestCache
from synthempathy.generation.chat import load_chat_template
from synthempathy.generation.driver import Generator, Item, Outcome, Step
from synthempathy.generation.llm import Backend, make_backend
from synthempathy.generation.prompts import load_grammar, load_template


Postprocess = Callable[[list, Params], tuple[list, list[Reject]]]
"""Runs on a stage's kept records before writing (e.g. dedupe); returns (kept, dropped)."""


@dataclass(frozen=True)
class GenerationStage:
    """The parts that differ between brainstorm, rewrite and respond."""

    name: str
    variables: set[str]
    """Template placeholders this stage fills."""
    steps: tuple[Step, ...]
    """Output fields in generation order (see driver.Step)."""
    build: Callable[[Any, Item, dict[str, str], dict], BaseModel]
    """(input record, item, parsed fields, provenance so far) -> output record."""
    section: SamplingParams
    """The stage's params section: its sampling settings (recorded in provenance), prompt and grammar file."""
    prompt: str
    """Template path, relative to the project root."""
    chat_prompt: str | None = None
    """Chat template path (generation/chat.py), used when the model takes chat; None: `prompt`
    goes in as one user turn."""
    grammar: str | None = None
    """GBNF text constraining every step's output."""
    llm: LLMParams | None = None
    """Model settings when they differ from params.llm (the judge's own model)."""
    check: Callable[[dict[str, str]], str | None] | None = None
    """Validates an attempt's fields; a problem means retry with a new seed (see Generator)."""
    as_is: bool = False
    """Keep every first answer, even empty or cut off (see Generator): the downstream measurement."""

    @classmethod
    def of(cls, params: GenerationParams, prompt: str | None = None, chat_prompt: str | None = None,
           **parts: Any) -> GenerationStage:
        """A stage that takes its sampling, prompts and grammar file from its params section."""
        grammar = load_grammar(params.grammar, f"{parts['name']}.grammar") if params.grammar else None
        return cls(section=params, prompt=prompt or params.prompt, chat_prompt=chat_prompt or params.chat_prompt,
                   grammar=grammar, **parts)


@contextmanager
def generator_for(stage: GenerationStage, params: Params, backend: Backend | None = None) -> Iterator[Generator]:
    """A Generator for `stage` with the request cache open; the model loads on the first cache miss.
    `backend`: one built by the caller (the downstream pipeline's transformers backend), closed here too."""
    template = load_template(stage.prompt, stage.variables)
    llm = stage.llm or params.llm
    backend = backend or make_backend(llm)
    chat = None
    if stage.chat_prompt and backend.prompt_format == "chat":
        chat = load_chat_template(stage.chat_prompt, stage.variables, [step.field for step in stage.steps[:-1]])
    cache = RequestCache()
    try:
        yield Generator(stage.name, template, stage.section, llm, backend, cache, stage.steps,
                        stage.grammar, stage.check, stage.as_is, chat)
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


@dataclass(frozen=True)
class Generated:
    """What a generating stage writes: its records, its rejects and its metrics' numbers."""

    kept: list[BaseModel]
    rejects: list[Reject]
    metrics: dict
    """The fields of core/metrics.py's GenerationMetrics, plus the stage's `extra_metrics`."""


def run_generation(stage: GenerationStage, params: Params, inputs: Sequence[tuple[Any, Item]],
                   postprocess: Postprocess | None = None, extra_metrics: dict | None = None) -> Generated:
    """Generate one output per input; the records kept (after `postprocess`), every reject and
    the metrics, with `extra_metrics` for the stage's own fields."""
    with generator_for(stage, params) as generator:
        outcomes = generator.run([item for _, item in inputs])
    kept, rejects = build_records(stage, inputs, outcomes)
    dropped: list[Reject] = []
    if postprocess is not None:
        kept, dropped = postprocess(kept, params)
        rejects += dropped
    stats = generator.stats
    metrics = {
        "items": stats.items,
        "kept": len(kept),
        "rejected": dict(sorted(Counter(r.reason for r in rejects).items())),
        "retries": stats.retries,
        "completion_tokens": stats.completion_tokens,
        **(extra_metrics or {}),
    }
    print(stats.summary(stage.name), file=sys.stderr)
    if report := generator.backend.report():
        print(f"{stage.name}: {report}", file=sys.stderr)
    if dropped:
        print(f"{stage.name}: then dropped {len(dropped)} duplicates -> {len(kept)} kept", file=sys.stderr)
    return Generated(kept, rejects, metrics)


def reject_of(stage: str, outcome: Outcome) -> Reject:
    return Reject(id=outcome.item.id, stage=stage, reason=outcome.reason, detail=outcome.detail,
                  record={"values": outcome.item.values})
