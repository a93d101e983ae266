"""The contract every backend keeps: one prompt, sampling params, a seed -> text.

Backends must be deterministic for a given (model, prompt, sampling, seed),
independent of what was generated before, so that cached, resumed and fresh
runs produce byte-identical outputs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any

from ..models import ModelFile
from ..prompts import Prompt


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str
    """'stop' (hit a stop sequence or end of text) or 'length' (hit max_tokens)."""
    completion_tokens: int
    prompt_format: str
    """The format actually used ('completion' or 'chat'), after resolving 'auto'."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Completion:
        return cls(**data)


class Backend(ABC):
    """A model that completes prompts. Subclasses load lazily on first use."""

    model: ModelFile
    configured_format: str
    """llm.prompt_format as written in params (part of every cache key)."""
    concurrency: int = 1
    """Calls the driver may have in flight at once; `complete` must be thread-safe when > 1."""
    batch_rows: int | None = None
    """Rows per decode step when outputs depend on it (llm.batch_size > 1, see
    llama_cpp_batched.py); None when a call's output depends on its own inputs only.
    Part of every request-cache key and recorded in provenance."""
    cpu_repack_off: bool = False
    """True when the model loads without llama.cpp's repacked CPU weights (llm.cpu_repack,
    llm/amx_workaround.py): other matmul kernels, other outputs, so part of the cache key."""

    @abstractmethod
    def complete(self, prompt: Prompt, sampling: dict[str, Any], seed: int, grammar: str | None = None) -> Completion:
        """Generate one completion for `prompt` with the given sampling and seed,
        constrained by the GBNF `grammar` when one is given."""

    def close(self) -> None:
        """Release the model (optional)."""
