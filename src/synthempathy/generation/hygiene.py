"""Tidying what an instruct model wraps around its answer, before the gates see it.

Chat models answer like assistants: "Sure! Here is the story:", **bold** and # headings, the
whole answer in quotes, a role label ("Assistant:"), or a second turn after their own
end-of-turn marker. None of it belongs in a corpus record, and none of it is the model failing
the task, so it is removed here rather than rejected later. Only chat answers are tidied: a base
model's completion is kept exactly as it came (the filter's gates judge it).

The turn markers are the model's own, read from its GGUF chat template (`chat_markers`), not a
hard-coded list, so a new model family's markers are covered when it arrives.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"<\|?[A-Za-z_][A-Za-z0-9_]*\|?>|\[/?INST\]")
_ROLE = re.compile(r"^(?:assistant|user|system|model)\s*:\s*", re.IGNORECASE)
_PREAMBLE = re.compile(r"^(?:(?:sure|certainly|of course|absolutely|okay|ok)\b[^\n]*|"
                       r"here(?:'s| is| are)\b[^\n]*:)\s*\n+", re.IGNORECASE)
_HEADING = re.compile(r"^#{1,6}\s+", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1", re.DOTALL)
_QUOTES = {'"': '"', "\u201c": "\u201d", "'": "'"}


def chat_markers(jinja: str | None, *tokens: str) -> tuple[str, ...]:
    """Turn markers a chat template writes (<|im_start|>, <start_of_turn>, [INST], ...), plus
    `tokens` (its BOS and EOS texts), sorted."""
    found = set(_MARKER.findall(jinja or "")) | {t for t in tokens if t}
    return tuple(sorted(found))


def tidy_chat(text: str, markers: tuple[str, ...] = ()) -> str:
    """The answer without a second turn, role label, assistant preamble, markdown emphasis or
    headings, or quotes around the whole of it."""
    cuts = [at for at in (text.find(marker) for marker in markers) if at >= 0]
    if cuts:
        text = text[:min(cuts)]
    text = text.strip()
    text = _ROLE.sub("", text, count=1)
    text = _PREAMBLE.sub("", text, count=1)
    text = _EMPHASIS.sub(r"\2", _HEADING.sub("", text))
    if len(text) > 1 and _QUOTES.get(text[0]) == text[-1] and text[0] not in text[1:-1] and text[-1] not in text[1:-1]:
        text = text[1:-1]
    return text.strip()
