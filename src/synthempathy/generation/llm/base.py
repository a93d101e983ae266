"""The contract every backend keeps: one prompt, sampling params, a seed -> text.

Backends must be deterministic for a given (model, prompt, sampling, seed),
independent of what was generated before, so that cached, resumed and fresh
runs produce byte-identical outputs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from synthempathy.core.errors import UserError
from synthempathy.core.params import SamplingParams
from synthempathy.core.records import BackendIdentity
from synthempathy.generation.prompts import Prompt


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


@dataclass(frozen=True)
class Scores:
    logprobs: list[float]
    """Per continuation, the sum of its tokens' log-probabilities after the prompt."""
    prompt_format: str
    """As in Completion."""


class Backend(ABC):
    """A model that completes prompts. Subclasses load lazily on first use."""

    name: str = "model"
    """How errors and logs call it."""

    prompt_format: str = "completion"
    """'completion' or 'chat': how prompts reach the model, llm.prompt_format resolved (for `auto`,
    by whether the model has a chat template), known before the model loads."""

    concurrency: int = 1
    """Calls the driver may have in flight at once; `complete` must be thread-safe when > 1."""

    identity: BackendIdentity
    """What this backend's outputs depend on besides the request, known before the model loads.
    Every request-cache key and every record's provenance holds it unchanged."""

    @abstractmethod
    def complete(self, prompt: Prompt, sampling: SamplingParams, seed: int, grammar: str | None = None) -> Completion:
        """Generate one completion for `prompt` with the given sampling and seed,
        constrained by the GBNF `grammar` when one is given."""

    chat_markers: tuple[str, ...] = ()
    """The model's own turn markers and BOS/EOS texts (generation/hygiene.py), where known: a chat
    answer is cut at them, and the filter drops a pair holding one (model_markers)."""

    def render_chat(self, messages: list[dict[str, str]], answer: str, item: int | None = None) -> Prompt:
        """A conversation, and the beginning of the assistant's answer, as this backend sends it
        (generation/chat.py); `item`: the index of the item's turn, the first that differs between
        items (the last when None). Only called when `prompt_format` is 'chat'."""
        raise NotImplementedError(f"the {self.name} backend takes no chat prompts")

    def score(self, prompt: Prompt, continuations: Sequence[str], sampling: SamplingParams) -> Scores:
        """How likely the model finds each continuation of `prompt` (generation/choice.py); `sampling`
        only sizes the request. Backends that cannot see a prompt's log-probabilities keep this."""
        raise UserError(f"the {self.name} backend cannot score a list's entries "
                        "(it gives no prompt log-probabilities): turn the list off, for example "
                        "respond.use_emotion_list: false for a free-text emotion")

    def report(self) -> str | None:
        """Where its time went, for the stage's log (None when it has nothing to say)."""
        return None

    def close(self) -> None:
        """Release the model (optional)."""
