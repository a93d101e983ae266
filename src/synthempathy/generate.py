"""Drive one generating stage: cache lookups, model calls, retries, progress.

Items are generated in input order and each item's result depends only on its
own inputs and derived seed, never on the order calls complete in. An item
whose output is empty, cut off at max_tokens or unparseable is retried with a
new derived seed up to `llm.max_attempts`, then rejected with its reason.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tqdm import tqdm

from .cache import RequestCache, request_key
from .llm import Backend, Completion
from .params import GenerationParams, LLMParams, sampling_of
from .prompts import Template
from .records import Provenance


class Unusable(ValueError):
    """Raised by a parser: the output cannot be used; the message is the reject reason."""


Parser = Callable[[str], dict[str, str]]


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
    retries: int = 0
    seconds: float = 0.0
    rejected: Counter = field(default_factory=Counter)

    def summary(self, stage: str) -> str:
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(self.rejected.items())) or "none"
        rate = self.completion_tokens / self.seconds if self.seconds else 0.0
        return (
            f"{stage}: {self.items} items -> {self.kept} kept, {sum(self.rejected.values())} rejected ({reasons}); "
            f"model calls {self.model_calls}, cache hits {self.cache_hits}, retries {self.retries}; "
            f"{self.seconds:.1f}s, {rate:.0f} tok/s"
        )


class Generator:
    """Runs a template over items with one backend and one cache."""

    def __init__(self, stage: str, template: Template, params: GenerationParams, llm: LLMParams,
                 backend: Backend, cache: RequestCache, parse: Parser):
        self.stage, self.template, self.params, self.llm = stage, template, params, llm
        self.backend, self.cache, self.parse = backend, cache, parse
        self.sampling = sampling_of(params)
        self.stats = StageStats()

    def _call(self, item: Item, attempt: int) -> tuple[Completion, int]:
        seed = derive_seed(self.llm.seed, self.stage, item.id, attempt)
        prompt = self.template.render(**item.values)
        key = request_key(
            model_sha256=self.backend.model.sha256,
            prompt_format=self.backend.configured_format,
            prompt=prompt.text,
            sampling=self.sampling,
            seed=seed,
        )
        cached = self.cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
            return Completion.from_dict(cached), seed
        completion = self.backend.complete(prompt, self.sampling, seed)
        self.cache.put(key, completion.to_dict())
        self.stats.model_calls += 1
        return completion, seed

    def _one(self, item: Item) -> Outcome:
        outcome = Outcome(item=item)
        for attempt in range(1, self.llm.max_attempts + 1):
            completion, seed = self._call(item, attempt)
            self.stats.completion_tokens += completion.completion_tokens
            try:
                if completion.finish_reason == "length":
                    raise Unusable("truncated")
                if not completion.text.strip():
                    raise Unusable("empty")
                fields = self.parse(completion.text)
            except Unusable as exc:
                outcome.reason, outcome.detail = str(exc), completion.text[-200:]
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
                sampling=self.sampling,
                seed=seed,
                attempts=attempt,
                finish_reason=completion.finish_reason,
                completion_tokens=completion.completion_tokens,
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
