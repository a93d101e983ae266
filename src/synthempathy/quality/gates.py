"""Quality gates: each check names why a record is dropped.

Checks run in a fixed order and the first failing one is the reject reason,
so every dropped pair has exactly one reason in the rejects file and the
metrics funnel adds up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from synthempathy.core.params import FilterParams

TERMINAL = re.compile(r"""[.!?…]["'”’)\]]*$""")

Check = Callable[[str, str, FilterParams], "tuple[str, str] | None"]
"""(field name, text, params) -> (reason, detail) or None when the text passes."""


def words(text: str) -> int:
    return len(text.split())


def check_empty(field: str, text: str, p: FilterParams):
    return ("empty", field) if not text.strip() else None


def check_length(field: str, text: str, p: FilterParams):
    n, least, most = words(text), getattr(p.min_words, field), getattr(p.max_words, field)
    if n < least:
        return "too_short", f"{field}: {n} words < {least}"
    if n > most:
        return "too_long", f"{field}: {n} words > {most}"
    return None


def check_template_leak(field: str, text: str, p: FilterParams):
    hit = next((m for m in p.leak_markers if m in text), None)
    return ("template_leak", f"{field}: contains {hit!r}") if hit else None


def check_refusal(field: str, text: str, p: FilterParams):
    low = text.lower()
    hit = next((m for m in p.refusal_markers if m.lower() in low), None)
    return ("refusal", f"{field}: contains {hit!r}") if hit else None


def check_repeated_lines(field: str, text: str, p: FilterParams):
    seen: set[str] = set()
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        key = " ".join(sentence.lower().split())
        if words(key) >= 4:
            if key in seen:
                return "repetition", f"{field}: repeats {sentence.strip()[:60]!r}"
            seen.add(key)
    return None


def check_cut_off(field: str, text: str, p: FilterParams):
    return ("cut_off", f"{field}: ends with {text.strip()[-30:]!r}") if not TERMINAL.search(text.strip()) else None


CHECKS: tuple[Check, ...] = (
    check_empty, check_template_leak, check_refusal, check_repeated_lines, check_cut_off, check_length,
)

# Pair gates: what a reader sees that the field checks above miss (issue 14). Thresholds live in
# filter.gates and were set from hand labels (tests/data/gate_labels.jsonl, benchmarks/QUALITY.md).
WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
FIRST_PERSON = frozenset("i me my mine myself i'm i've i'd i'll".split())
SECOND_PERSON = frozenset("you your yours yourself you're you've you'd you'll".split())
THIRD_PERSON = frozenset("she her hers herself he him his himself they them their theirs themselves".split())
ABOUT_THEM = re.compile(r"\bthe (?:speaker|narrator|poster)\b", re.IGNORECASE)
SPEAKER_TURN = re.compile(r"^\W*((?:[A-Z][A-Za-z.]*)(?: (?:of|the|[A-Z][A-Za-z.]*)){0,3}):\s", re.MULTILINE)
"""A line opening with a name and a colon ("Director of HR: ..."), as in a dialogue."""
FIELD_LABEL = re.compile(r"^\W*[A-Za-z ]{2,20}:")
LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)]|[a-z][.)])\s")
STOPWORDS = frozenset("""a about after again all also am an and any are as at be because been before being but by
can could did do does doing down during each even every few for from get got had has have having he her here hers
him his how if in into is it its just like more most much no not now of off on once only or other our out over own
really same she should so some still such than that the their them then there these they this those through to too
under until up very was we were what when where which while who why will with would yet""".split())
NOT_CONTENT = STOPWORDS | FIRST_PERSON | SECOND_PERSON


def _words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def _share(text: str, vocabulary: frozenset[str]) -> float:
    found = _words(text)
    return sum(w in vocabulary for w in found) / len(found) if found else 0.0


def _stems(text: str) -> set[str]:
    """Content words cut to 5 letters, a crude stemmer that makes 'deadline' and 'deadlines' one."""
    return {w[:5] for w in _words(text) if w not in NOT_CONTENT and len(w) > 2}


def topic_overlap(explanation: str, source: str) -> float:
    """Share of the source's content words (situation and story) that the explanation uses."""
    wanted = _stems(source)
    return len(wanted & _stems(explanation)) / len(wanted) if wanted else 1.0


def _malformed(field: str, text: str | None, max_words: int) -> tuple[str, str] | None:
    if text is None:  # the direct baseline has no emotion or cause step
        return None
    reason = f"bad_{field}"
    if not text.strip():
        return reason, f"{field}: empty"
    if FIELD_LABEL.match(text):
        return reason, f"{field}: starts with a label: {text[:40]!r}"
    if LIST_ITEM.match(text):
        return reason, f"{field}: a list item: {text[:40]!r}"
    n = words(text)
    if n > max_words:
        return reason, f"{field}: {n} words > {max_words}"
    return None


def gate_emotion(pair, p: FilterParams):
    return _malformed("emotion", pair.emotion, p.gates.emotion_max_words)


def gate_cause(pair, p: FilterParams):
    return _malformed("cause", pair.cause, p.gates.cause_max_words)


def dialogue_speakers(text: str) -> list[str]:
    """The names opening two or more lines as "Name: ...", in order; [] for anything else.
    One such line ("Update: my boss...") is not a dialogue, nor is a label with I or My."""
    names = [n for n in SPEAKER_TURN.findall(text) if not {"I", "My"} & set(n.split())]
    return list(dict.fromkeys(names)) if len(names) >= 2 else []


def gate_first_person(pair, p: FilterParams):
    speakers = dialogue_speakers(pair.explanation)
    if speakers:
        return "not_first_person", f"explanation: a dialogue between {', '.join(speakers[:3])}"
    share = _share(pair.explanation, FIRST_PERSON)
    if share < p.gates.first_person_min:
        return "not_first_person", f"explanation: {share:.3f} first-person words < {p.gates.first_person_min}"
    return None


def gate_second_person(pair, p: FilterParams):
    """Talks about the person instead of to them. No "you" alone is not enough: a good reply
    may share the listener's own experience (benchmarks/QUALITY.md measured that on people's
    replies), so it takes he/she/they in place of any you."""
    about = ABOUT_THEM.search(pair.response)
    if about:
        return "not_second_person", f"response: talks about {about.group(0)!r}"
    if _share(pair.response, SECOND_PERSON) == 0:
        third = _share(pair.response, THIRD_PERSON)
        if third >= p.gates.third_person_min:
            return "not_second_person", f"response: no you, {third:.3f} he/she/they words >= {p.gates.third_person_min}"
    return None


def gate_topic(pair, p: FilterParams):
    overlap = topic_overlap(pair.explanation, f"{pair.situation} {pair.story}")
    if overlap < p.gates.topic_overlap_min:
        return "off_topic", f"explanation: uses {overlap:.2f} of its story's content words < {p.gates.topic_overlap_min}"
    return None


Gate = Callable[[BaseModel, FilterParams], "tuple[str, str] | None"]
GATES: tuple[Gate, ...] = (gate_emotion, gate_cause, gate_first_person, gate_second_person, gate_topic)


def first_problem(record: BaseModel, fields: Sequence[str], p: FilterParams) -> tuple[str, str] | None:
    """The first failing check over `fields` of `record`, or None if all pass."""
    for check in CHECKS:
        for field in fields:
            problem = check(field, getattr(record, field), p)
            if problem:
                return problem
    return None


def first_gate_problem(pair: BaseModel, p: FilterParams) -> tuple[str, str] | None:
    """The first failing pair gate (filter.gates), or None; every gate is off when gates.enabled is false."""
    if not p.gates.enabled:
        return None
    for gate in GATES:
        problem = gate(pair, p)
        if problem:
            return problem
    return None


def explanation_problem(record: BaseModel, p: FilterParams) -> tuple[str, str] | None:
    """The first of the filter's checks on the explanation alone that fails (text checks, then the
    first-person and topic gates when gates are on), or None: whether it reads as a seeker's post."""
    problem = first_problem(record, ("explanation",), p)
    if problem or not p.gates.enabled:
        return problem
    return gate_first_person(record, p) or gate_topic(record, p)
