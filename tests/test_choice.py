"""Picking from a closed list by likelihood (generation/choice.py), without a model."""

import math

import numpy as np
import pytest

from synthempathy.core.errors import UserError
from synthempathy.generation.choice import continuation_logprobs, continuations, load_choices, neutral_values, pick

VOCAB = 7


def toy_logits(path: tuple[int, ...]) -> np.ndarray:
    """A made-up model: the next-token logits depend on every token before them."""
    rng = np.random.default_rng(abs(hash(path)) % 2**32)
    return rng.normal(size=VOCAB)


def naive(sequence: tuple[int, ...]) -> float:
    """log P(sequence) token by token, from scratch."""
    total = 0.0
    for i, token in enumerate(sequence):
        logits = toy_logits(sequence[:i])
        total += logits[token] - math.log(np.exp(logits).sum())
    return total


def test_scores_equal_token_by_token_sums_and_shared_starts_are_evaluated_once():
    sequences = [(1, 2, 3), (1, 2, 4), (1, 5), (6,), (1, 2, 3), (0, 2)]
    held: list[int] = []
    calls = []

    def extend(depth, token):
        del held[depth:]  # the cache keeps `depth` tokens, drops the rest
        held.append(token)
        calls.append(tuple(held))
        return toy_logits(tuple(held))

    scores = continuation_logprobs(sequences, toy_logits(()), extend)
    assert scores == pytest.approx([naive(s) for s in sequences], abs=1e-12)
    assert sorted(calls) == [(0,), (1,), (1, 2)]  # last tokens need no evaluation, (1,) only once


def test_the_entry_the_text_raises_most_is_named_and_a_second_only_when_the_text_raises_and():
    choices = ("anger", "grief", "worry")
    flat = [0.0] * 6  # a calibration prompt that favours nothing: the raw scores decide
    # (end, and) per entry: grief is likeliest and would rather end the line
    assert pick(choices, [-5, -6, -1, -3, -2, -4], flat) == " grief"
    # grief would go on with " and": the runner-up (worry) follows, never grief again
    assert pick(choices, [-5, -6, -3, -1, -2, -4], flat) == " grief and worry"
    # the list's order plays no part
    assert pick(choices[::-1], [-2, -4, -3, -1, -5, -6], flat[:6]) == " grief and worry"
    # equal scores go by name, not by position
    assert pick(("worry", "anger"), [-1, -9, -1, -9], flat[:4]) == " anger"
    assert pick(("grief",), [-3, -1], flat[:2]) == " grief"  # a one-entry list has no second
    assert continuations(("fear",)) == [" fear\n", " fear and"]
    assert neutral_values({"explanation": "I lost my job", "guidance": ""}) == {"explanation": "N/A", "guidance": ""}


def test_calibration_names_what_the_text_adds_not_what_the_examples_make_likely():
    choices = ("fear", "grief")
    # fear is likelier given the text, but the examples make it just as likely given N/A
    text, neutral = [-1.0, -2.0, -2.0, -4.0], [-1.0, -2.0, -4.0, -6.0]
    assert pick(choices, text, neutral) == " grief"
    # " and" is likely after grief, but no likelier than given N/A: one emotion
    assert pick(choices, [-9, -9, -3, -1], [-9, -9, -5, -3]) == " grief"
    assert pick(choices, [-9, -9, -3, -1], [-9, -9, -3, -3]) == " grief and fear"


def test_list_file_errors_name_the_file_and_line(tmp_path):
    good = tmp_path / "emotions.txt"
    good.write_text("# comment\nfear\n\n  grief  \nbeing left out\n")
    assert load_choices(good, "respond.emotion_list") == ("fear", "grief", "being left out")
    twice = tmp_path / "twice.txt"
    twice.write_text("fear\ngrief\nfear\n")
    with pytest.raises(UserError, match=r"twice\.txt:3: 'fear' is listed twice \(first on line 1\)$"):
        load_choices(twice, "respond.emotion_list")
    joined = tmp_path / "joined.txt"
    joined.write_text("fear\nfear and panic\n")
    with pytest.raises(UserError, match=r"joined\.txt:2: 'fear and panic' holds 'and'"):
        load_choices(joined, "respond.emotion_list")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(UserError, match=r"^params\.yaml: respond\.emotion_list: \S+empty\.txt: the list is empty$"):
        load_choices(empty, "respond.emotion_list")
    with pytest.raises(UserError, match=r"^params\.yaml: respond\.emotion_list: \S+nope\.txt: file not found$"):
        load_choices(tmp_path / "nope.txt", "respond.emotion_list")
