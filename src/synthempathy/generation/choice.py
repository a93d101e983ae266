"""Pick from a closed list by the model's likelihood: Chain-of-Empathy's emotion step.

Why not a grammar over the list (what this replaced): a token grammar lets the model sample
its own token and, when that token starts no entry, samples again among the tokens that do.
A frequent short token that happens to begin an entry then wins whatever the text says: in
the default corpus 16 of 24 kept pairs named "anger", the list's first entry, for posts about
grief, sleep and worry too, and one said "anger and anger" (benchmarks/EMOTION.md).

Here each entry is scored whole: log P(" <entry>" followed by "\n" or " and" | prompt), the
model's own probability of writing exactly that entry and ending it there, less the same score
given the prompt with "N/A" for the text (contextual calibration, Zhao et al. 2021, "Calibrate
Before Use"). The raw score alone mostly repeats the few-shot examples: the embedded model named
"fear", the first example's emotion, for 76 of 81 default explanations. What is left is what the
text itself changes. The entry the text raises most is named, and the next after it when the text
raises " and" after it more than the end of the line. Nothing depends on the list's order, no
entry repeats, and no seed plays a part: the same prompt always names the same emotions, on a
retry of the item too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from synthempathy.core.errors import UserError

END, AND = "\n", " and"
NEUTRAL = "N/A"
"""What stands in for the item's text in the calibration prompt (Zhao et al.'s content-free input)."""
RULE = "likelihood calibrated by N/A r1"
"""The pick rule's name in every request-cache key of a choice: change it when the rule changes."""


def load_choices(path: str | Path, param: str) -> tuple[str, ...]:
    """The entries of a list file (one per line, `#` comments); errors name file:line and `param`."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"params.yaml: {param}: {path}: file not found") from None
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if entry in seen:
            raise UserError(f"{path}:{number}: {entry!r} is listed twice (first on line {seen[entry]})")
        if f"{AND} " in f" {entry} " or "\n" in entry:
            raise UserError(f"{path}:{number}: {entry!r} holds 'and', which joins two entries")
        seen[entry] = number
    if not seen:
        raise UserError(f"params.yaml: {param}: {path}: the list is empty")
    return tuple(seen)


def continuations(choices: Sequence[str]) -> list[str]:
    """What gets scored: each entry after a space, ended by a newline or by " and"."""
    return [f" {choice}{end}" for choice in choices for end in (END, AND)]


def neutral_values(values: dict[str, str]) -> dict[str, str]:
    """The template's values for the calibration prompt: NEUTRAL for each given one, empty stays empty."""
    return {name: NEUTRAL if value else "" for name, value in values.items()}


def pick(choices: Sequence[str], logprobs: Sequence[float], neutral: Sequence[float]) -> str:
    """The answer text (" grief", " fear and helplessness") from `continuations`' log-probs given the
    item's prompt and given the calibration prompt."""
    gain = np.asarray(logprobs, dtype=np.float64) - np.asarray(neutral, dtype=np.float64)
    ends, ands = np.asarray(logprobs[0::2]), np.asarray(logprobs[1::2])
    base = np.logaddexp(np.asarray(neutral[0::2]), np.asarray(neutral[1::2]))
    score = dict(zip(choices, np.logaddexp(ends, ands) - base))
    ranked = sorted(choices, key=lambda c: (-score[c], c))  # ties by name, not by list position
    first = ranked[0]
    index = list(choices).index(first)
    if len(ranked) > 1 and gain[2 * index + 1] > gain[2 * index]:
        return f" {first}{AND} {ranked[1]}"
    return f" {first}"


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    top = logits.max()
    return logits - (top + math.log(np.exp(logits - top).sum()))


def continuation_logprobs(tokenized: Sequence[Sequence[int]], first: np.ndarray,
                          extend: Callable[[int, int], np.ndarray]) -> list[float]:
    """Sum of token log-probs of each token sequence after a prompt.

    `first`: the logits for the token after the prompt. `extend(depth, token)` puts `token` at
    `depth` tokens past the prompt (the model's cache keeps the `depth` before it, drops the rest)
    and returns the logits after it. Sequences are walked in sorted order so a shared start is
    evaluated once; a token is always evaluated on its own, after the same tokens, so the result
    never depends on which other sequences were scored.
    """
    dists: dict[tuple[int, ...], np.ndarray] = {(): log_softmax(first)}
    held: tuple[int, ...] = ()
    for sequence in sorted({tuple(s) for s in tokenized}):
        for depth in range(len(sequence) - 1):
            path = sequence[:depth + 1]
            if path in dists:
                continue
            keep = 0
            while keep < min(len(held), depth) and held[keep] == sequence[keep]:
                keep += 1
            for at in range(keep, depth + 1):  # only the path's own tokens, each on its own
                dists[sequence[:at + 1]] = log_softmax(extend(at, sequence[at]))
            held = path
    return [sum(float(dists[tuple(s[:i])][t]) for i, t in enumerate(s)) for s in map(tuple, tokenized)]
