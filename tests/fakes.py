"""Deterministic stand-ins for the model, for tests of everything around it (the fast tier).

`ScriptedBackend` keeps the backend contract (`identity`, `concurrency`, `complete`) with
answers from a function of the prompt and seed, so the driver's retries, truncation,
threading, Ctrl-C and cache can be tested in milliseconds. What the model itself does
(determinism, batching, grammars, the pipeline end to end) is tested with the real
embedded GGUF in the tests marked `model`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from synthempathy.core.params import SamplingParams
from synthempathy.core.records import BackendIdentity, Provenance
from synthempathy.generation.llm import Backend, Completion
from synthempathy.generation.prompts import Prompt

IDENTITY = BackendIdentity(model="m.gguf", model_sha256="0" * 64, format_setting="completion",
                           implementation="scripted r1")


def provenance(**update) -> Provenance:
    """A valid provenance entry; `update` overrides any field (`backend` takes a dict of identity changes)."""
    backend = IDENTITY.model_copy(update=update.pop("backend", {}))
    fields = dict(prompt="prompts/x.txt", prompt_sha256="1" * 64, prompt_format="completion", sampling={}, seed=1,
                  attempts=1, finish_reason="stop", completion_tokens=5)
    return Provenance(backend=backend, **{**fields, **update})


class ScriptedBackend(Backend):
    """Answers `reply(prompt, seed)`, one whitespace-separated word per token: cut at the first
    stop string, or at `max_tokens` words with finish_reason 'length', as llama.cpp would.
    `delay(prompt)` seconds pass before each answer; `calls` lists (prompt, seed) as they came."""

    def __init__(self, reply: Callable[[Prompt, int], str], concurrency: int = 1,
                 delay: Callable[[Prompt], float] | None = None, identity: BackendIdentity = IDENTITY):
        self.reply, self.concurrency, self.identity = reply, concurrency, identity
        self.delay = delay or (lambda prompt: 0.0)
        self.calls: list[tuple[Prompt, int]] = []
        self._lock = threading.Lock()

    def complete(self, prompt: Prompt, sampling: SamplingParams, seed: int, grammar: str | None = None) -> Completion:
        time.sleep(self.delay(prompt))
        with self._lock:
            self.calls.append((prompt, seed))
        text = self.reply(prompt, seed)
        cut = min((text.find(stop) for stop in sampling.stop if stop in text), default=-1)
        shown = text[:cut] if cut >= 0 else text
        words = shown.split()
        if len(words) > sampling.max_tokens:
            return Completion(text=" " + " ".join(words[:sampling.max_tokens]), finish_reason="length",
                              completion_tokens=sampling.max_tokens, prompt_format="completion")
        return Completion(text=shown, finish_reason="stop", completion_tokens=len(words), prompt_format="completion")
