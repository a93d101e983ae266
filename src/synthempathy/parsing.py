"""Turn raw model text into the fields of a record, or say why it can't.

Base models continue the few-shot pattern and often run on into a new
example; stop sequences catch most of that, and these parsers cut the rest.
"""

from __future__ import annotations

import re

from .generate import Unusable

_SPACES = re.compile(r"[ \t]+")
_COE = re.compile(
    r"^\s*(?P<emotion>.+?)\s*\n\s*Cause:\s*(?P<cause>.+?)\s*\n\s*Response:\s*(?P<response>.+?)\s*$",
    re.DOTALL,
)


def clean(text: str) -> str:
    """Trim, collapse runs of spaces, keep paragraph breaks."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.strip().splitlines()]
    return "\n".join(lines).strip()


def parse_text(field: str):
    """Parser for stages whose whole output is one text field."""

    def parse(text: str) -> dict[str, str]:
        value = clean(text)
        if not value:
            raise Unusable("empty")
        return {field: value}

    return parse


def parse_chain_of_empathy(text: str) -> dict[str, str]:
    """Split 'emotion / Cause: ... / Response: ...' (the template ends at 'Emotion:')."""
    match = _COE.match(text)
    if match is None:
        raise Unusable("unparseable: expected 'Cause:' and 'Response:' after the emotion")
    fields = {k: clean(v) for k, v in match.groupdict().items()}
    if not all(fields.values()):
        raise Unusable("unparseable: an empty Chain-of-Empathy step")
    return fields
