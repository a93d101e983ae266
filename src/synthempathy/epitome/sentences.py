"""Responses as sentences, and EPITOME's rationales as sentence labels.

Why sentences: EPITOME marks a mechanism by its strongest instance anywhere in
a response ("a specific question anywhere is exploration"), and our responses
run 100-150 words, three times EPITOME's and past what a small encoder reads
well in one window. Judging each sentence and pooling with a max keeps a
response's score where its strongest sentence puts it, so neutral padding or a
new sentence order barely moves it, whatever the length.

EPITOME's `rationales` column lists, per mechanism, the spans of the response
that carry it ('|'-separated). A sentence overlapping a span gets the pair's
level for that mechanism, every other sentence 0; that is what the sentence
judge learns from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MAX_WORDS = 60
"""A sentence longer than this (run-on Reddit text) is cut into windows of this many words, so
every piece fits well inside a small encoder's 256 tokens."""

_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n|$)")
_MIN_SPAN = 3
"""Rationale spans shorter than this many characters ('.', 'I') match anywhere and are ignored."""


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of each sentence of `text`, stripped, long ones windowed."""
    spans = []
    for match in _SENTENCE.finditer(text):
        start, end = match.span()
        piece = text[start:end]
        if not piece.strip():
            continue
        start += len(piece) - len(piece.lstrip())
        end -= len(piece) - len(piece.rstrip())
        words = list(re.finditer(r"\S+", text[start:end]))
        for first in range(0, len(words), MAX_WORDS):
            window = words[first:first + MAX_WORDS]
            spans.append((start + window[0].start(), start + window[-1].end()))
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of `text` (at least one piece, even for text without any punctuation)."""
    pieces = [text[a:b] for a, b in sentence_spans(text)]
    return pieces or [text.strip()]


def rationale_spans(rationales: str) -> list[str]:
    """EPITOME's '|'-separated rationale column as its non-trivial spans."""
    return [s.strip() for s in rationales.split("|") if len(s.strip()) >= _MIN_SPAN]


def _located(text: str, spans: Sequence[str]) -> list[tuple[int, int]]:
    lowered = text.lower()
    found = []
    for span in spans:
        at = lowered.find(span.lower())
        if at >= 0:
            found.append((at, at + len(span)))
    return found


def sentence_levels(response: str, level: int, rationales: str) -> list[int] | None:
    """One level per sentence of `response` (split_sentences): `level` where a rationale span
    overlaps it, else 0. A level-0 pair is all zeros. None when the pair has a level but none of
    its rationale spans can be found in the text (a few EPITOME rows): unusable for sentence training."""
    sentences = sentence_spans(response) or [(0, len(response))]
    if level == 0:
        return [0] * len(sentences)
    marked = _located(response, rationale_spans(rationales))
    if not marked:
        return None
    return [level if any(a < e and s < b for a, b in marked) else 0 for s, e in sentences]
