"""Drive one generating stage: cache lookups, model calls, retries, progress.

Items are generated in input order and each item's result depends only on its
own inputs and derived seed, never on the order calls complete in. An item
whose output is empty or cut off at max_tokens is retried with a
new derived seed up to `llm.max_attempts`, then rejected with its reason.
"""

from __future__ import annotations

import hashlib
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tqdm import tqdm

from .cache import RequestCache, request_key
from .errors import UserError
from .llm import Backend, Completion
from .params import LLMParams, SamplingParams, sampling_of
from .prompts import Prompt, Template
from .records import Provenance


_SPACES = re.compile(r"[ \t]+")


def clean(text: str) -> str:
    """Trim, collapse runs of spaces, keep line breaks."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.strip().splitlines()]
    return "\n".join(lines).strip()


@dataclass(frozen=True)
class Step:
    """One output field, generated after the previous ones.

    `lead_in` is appended to the prompt before the model continues (for
    example "\nCause:"), so a multi-part answer such as Chain-of-Empathy is
    scaffolded by the prompt itself and cannot come back in the wrong shape.
    (A GBNF grammar would do the same, but llama.cpp applies it to the whole
    vocabulary before top-k, which made respond 3x slower with Gemma's 262k
    tokens.)
    """

    field: str
    lead_in: str = ""
    single_line: bool = False
    """Also stop at the end of the line (for short steps such as the emotion)."""

    def sampling(self, base: dict) -> dict:
        return {**base, "stop": [*base["stop"], "\n"]} if self.single_line else base


def derive_seed(base_seed: int, stage: str, item_id: str, attempt: int) -> int:
    """Per-call seed from lineage: stable across runs, machines and item order."""
    digest = hashlib.sha256(f"{base_seed}:{stage}:{item_id}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class Item:
    id: str
    values: dict[str, str]
    """Template variables for this item."""


@dataclass
class Outcome:
    item: Item
    fields: dict[str, str] | None = None
    provenance: Provenance | None = None
    reason: str = ""
    detail: str = ""


@dataclass
class StageStats:
    items: int = 0
    kept: int = 0
    model_calls: int = 0
    cache_hits: int = 0
    completion_tokens: int = 0
    model_tokens: int = 0
    """Tokens the model generated in this run (cache hits excluded)."""
    retries: int = 0
    seconds: float = 0.0
    rejected: Counter = field(default_factory=Counter)

    def summary(self, stage: str) -> str:
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(self.rejected.items())) or "none"
        rate = self.model_tokens / self.seconds if self.seconds else 0.0
        return (
            f"{stage}: {self.items} items -> {self.kept} kept, {sum(self.rejected.values())} rejected ({reasons}); "
            f"model calls {self.model_calls}, cache hits {self.cache_hits}, retries {self.retries}; "
            f"{self.seconds:.1f}s, " + (f"{rate:.0f} tok/s" if self.model_calls else "model not loaded")
        )


class Generator:
    """Runs a template over items with one backend and one cache."""

    def __init__(self, stage: str, template: Template, params: SamplingParams, llm: LLMParams,
                 backend: Backend, cache: RequestCache, steps: Sequence[Step], grammar: str | None = None,
                 check: Callable[[dict[str, str]], str | None] | None = None):
        """`check` validates a finished attempt's fields and returns a problem or None;
        an attempt with a problem is retried like an empty one (reason "invalid")."""
        self.stage, self.template, self.params, self.llm = stage, template, params, llm
        self.check = check
        self.grammar = grammar
        self.grammar_sha256 = hashlib.sha256(grammar.encode()).hexdigest() if grammar else None
        self.backend, self.cache, self.steps = backend, cache, tuple(steps)
        self.sampling = sampling_of(params)
        self.stats = StageStats()

    def _call(self, item: Item, seed: int, continuation: str, sampling: dict) -> Completion:
        rendered = self.template.render(**item.values)
        prompt = Prompt(prefix=rendered.prefix, suffix=rendered.suffix + continuation)
        key = request_key(
            model_sha256=self.backend.model.sha256,
            prompt_format=self.backend.configured_format,
            prompt=prompt.text,
            sampling=sampling,
            seed=seed,
            grammar=self.grammar,
        )
        cached = self.cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
            return Completion.from_dict(cached)
        try:
            completion = self.backend.complete(prompt, sampling, seed, self.grammar)
        except UserError as exc:
            raise UserError(f"{self.stage} ({self.template.path}, item {item.id}): {exc}") from None
        self.cache.put(key, completion.to_dict())
        self.stats.model_calls += 1
        self.stats.model_tokens += completion.completion_tokens
        return completion

    def _attempt(self, item: Item, seed: int) -> tuple[dict[str, str], Completion, int, str, str]:
        """Generate every step once: (fields, last completion, tokens, reject reason, detail)."""
        fields: dict[str, str] = {}
        so_far, tokens = "", 0
        for step in self.steps:
            so_far += step.lead_in
            completion = self._call(item, seed, so_far, step.sampling(self.sampling))
            tokens += completion.completion_tokens
            if completion.finish_reason == "length":
                return fields, completion, tokens, "truncated", f"{step.field}: {completion.text[-200:]}"
            value = clean(completion.text)
            if not value:
                return fields, completion, tokens, "empty", step.field
            fields[step.field] = value
            so_far += completion.text
        problem = self.check(fields) if self.check else None
        if problem:
            return fields, completion, tokens, "invalid", problem
        return fields, completion, tokens, "", ""

    def _one(self, item: Item) -> Outcome:
        outcome = Outcome(item=item)
        for attempt in range(1, self.llm.max_attempts + 1):
            seed = derive_seed(self.llm.seed, self.stage, item.id, attempt)
            fields, completion, tokens, reason, detail = self._attempt(item, seed)
            self.stats.completion_tokens += tokens
            if reason:
                outcome.reason, outcome.detail = reason, detail
                if attempt < self.llm.max_attempts:
                    self.stats.retries += 1
                continue
            outcome.fields = fields
            outcome.reason = outcome.detail = ""
            outcome.provenance = Provenance(
                model=self.backend.model.name,
                model_sha256=self.backend.model.sha256,
                prompt=self.template.path,
                prompt_sha256=self.template.sha256,
                prompt_format=completion.prompt_format,
                grammar_sha256=self.grammar_sha256,
                sampling=self.sampling,
                seed=seed,
                attempts=attempt,
                finish_reason=completion.finish_reason,
                completion_tokens=tokens,
            )
            return outcome
        return outcome

    def run(self, items: Sequence[Item]) -> list[Outcome]:
        """Generate every item in order; Ctrl-C stops cleanly, keeping cached calls."""
        start = time.monotonic()
        outcomes: list[Outcome] = []
        bar = tqdm(total=len(items), desc=self.stage, unit="item", dynamic_ncols=True, file=sys.stderr)
        try:
            for item in items:
                outcome = self._one(item)
                outcomes.append(outcome)
                if outcome.fields is None:
                    self.stats.rejected[outcome.reason] += 1
                bar.set_postfix(calls=self.stats.model_calls, cached=self.stats.cache_hits, refresh=False)
                bar.update()
        except KeyboardInterrupt:
            bar.close()
            print(
                f"\n{self.stage}: interrupted after {len(outcomes)}/{len(items)} items; "
                f"{self.stats.model_calls} new results are in the request cache, no output was written. "
                "Run `dvc repro` again to resume.",
                file=sys.stderr,
            )
            raise SystemExit(130) from None
        bar.close()
        self.stats.items = len(items)
        self.stats.kept = sum(o.fields is not None for o in outcomes)
        self.stats.seconds = time.monotonic() - start
        return outcomes
