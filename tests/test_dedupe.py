"""Tests for synthempathy.quality.dedupe: real rapidfuzz, brute-force references, no mocks."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from rapidfuzz import fuzz, process

from synthempathy.quality.dedupe import Duplicate, NearDupParams, candidate_pairs, find_duplicates, normalize

DEFAULT = NearDupParams()

# --------------------------------------------------------------------------- fixtures

# Distinct empathetic responses on one topic (losing a job): they share a lot of
# vocabulary but none is a near copy of another.
SAME_TOPIC = [
    "I'm so sorry you lost your job. Being let go after six years at the same company "
    "is a real shock, and it makes sense that you feel angry and a bit lost right now. "
    "Give yourself a few days before you start applying again.",
    "Losing a job you cared about can shake your sense of who you are. It is okay to "
    "grieve it. When you feel ready, maybe list the skills you built there; you might "
    "be surprised how long that list is.",
    "That sounds incredibly stressful, especially with rent due next week. Have you "
    "checked whether you qualify for unemployment benefits? Sorting out money first "
    "might take some of the pressure off while you look for work.",
    "Being laid off is not a verdict on your worth. Companies cut jobs for budget "
    "reasons that have nothing to do with the people doing them. You are allowed to "
    "feel hurt, and you are also still the capable person you were last month.",
    "It must be hard to tell your family about the layoff. You don't have to have a "
    "plan ready before you talk to them; letting the people close to you share the "
    "worry often makes it lighter.",
    "I hear how tired you are of applying and getting no answers. Job hunting is "
    "exhausting and the silence from employers is discouraging. Maybe set a small "
    "daily goal and take the evenings off so the search doesn't swallow your life.",
]

SYLLABLES = "ka lo mi ne ru ta shi ven dor pel an is ou el tra ber col fen gi har jo qua sar tes ul vo".split()
HEAD = (
    "i you the to and a that it is your of this feel so be can with for in what are not "
    "really like sounds have how about me but my on just all know was do sorry hear"
).split()


def make_vocab(rng: random.Random, size: int = 3000) -> list[str]:
    words = list(HEAD)
    seen = set(words)
    while len(words) < size:
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


class Gen:
    """Small deterministic Zipf-ish text generator for tests."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.vocab = make_vocab(self.rng)
        self.cum = list(np.cumsum(1.0 / np.arange(1, len(self.vocab) + 1)))

    def words(self, k: int) -> list[str]:
        return self.rng.choices(self.vocab, cum_weights=self.cum, k=k)

    def sentences(self, n: int | None = None) -> list[str]:
        out = []
        for _ in range(n or self.rng.randint(6, 9)):
            ws = self.words(self.rng.randint(8, 18))
            out.append(ws[0].capitalize() + " " + " ".join(ws[1:]) + self.rng.choice(".!?"))
        return out

    def text(self) -> str:
        return " ".join(self.sentences())

    def change_words(self, text: str, k: int) -> str:
        """Replace k distinct word positions with other words."""
        ws = text.split(" ")
        for pos in self.rng.sample(range(len(ws)), k):
            new = self.rng.choice(self.vocab[len(HEAD) :])
            ws[pos] = new.capitalize() if ws[pos][:1].isupper() else new
        return " ".join(ws)

    def swap_words(self, text: str, k: int) -> str:
        ws = text.split(" ")
        for _ in range(k):
            a = self.rng.randrange(len(ws) - 1)
            ws[a], ws[a + 1] = ws[a + 1], ws[a]
        return " ".join(ws)


def tsr(a: str, b: str) -> float:
    return fuzz.token_sort_ratio(normalize(a), normalize(b))


def by_index(dups: list[Duplicate]) -> dict[int, Duplicate]:
    return {d.index: d for d in dups}


def brute_force(texts: list[str], params: NearDupParams) -> list[Duplicate]:
    """Reference semantics: every pair scored, first wins, only kept texts absorb."""
    norm = [normalize(t) for t in texts]
    scorer = fuzz.token_sort_ratio if params.scorer == "token_sort_ratio" else fuzz.ratio
    m = process.cdist(norm, norm, scorer=scorer, dtype=np.float64, workers=-1)
    out: list[Duplicate] = []
    kept: list[int] = []
    for i in range(len(texts)):
        exact = next((k for k in kept if norm[k] == norm[i]), None)
        if exact is not None:
            out.append(Duplicate(i, exact, 100.0, "exact"))
            continue
        hits = [(m[k, i], k) for k in kept if norm[i] and m[k, i] >= params.threshold]
        if hits:
            score, k = max(hits, key=lambda sk: (sk[0], -sk[1]))
            out.append(Duplicate(i, k, score, "near"))
        else:
            kept.append(i)
    return out


# --------------------------------------------------------------------------- params


def test_params_defaults_and_bounds():
    assert DEFAULT.enabled is True
    assert DEFAULT.threshold == 90.0
    assert DEFAULT.scorer == "token_sort_ratio"
    assert DEFAULT.num_perm == DEFAULT.bands * DEFAULT.rows == 96
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        NearDupParams(threshold=100.5)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        NearDupParams(threshold=-1)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        NearDupParams.model_validate({"threshold": 90, "treshold": 80})
    with pytest.raises(ValidationError):
        NearDupParams(scorer="token_set_ratio")
    assert NearDupParams.model_validate({"threshold": 85, "bands": 40}).num_perm == 120


# --------------------------------------------------------------------------- normalize


def test_normalize_examples():
    assert normalize("  Hello,\tWORLD!!  ") == "hello world"
    assert normalize("I don't know… it’s fine.") == "i dont know its fine"
    assert normalize("ＦＵＬＬＷＩＤＴＨ！ｔｅｘｔ") == "fullwidth text"
    assert normalize("well-being\nmatters") == "well being matters"
    assert normalize("") == ""
    assert normalize(" ...\n ") == ""


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_normalize_properties(text):
    out = normalize(text)
    assert normalize(out) == out
    assert not any(c.isupper() for c in out)
    assert "  " not in out
    assert out == out.strip()
    assert not any(c.isspace() and c != " " for c in out)


# --------------------------------------------------------------------------- exact


def test_exact_duplicates_after_normalisation():
    gen = Gen(1)
    a, b = gen.text(), gen.text()
    texts = [a, b, a.upper(), "  " + a.replace(" ", "   ").replace(".", " ."), b.replace(",", ""), a]
    dups = find_duplicates(texts, DEFAULT)
    assert [(d.index, d.of_index, d.score, d.kind) for d in dups] == [
        (2, 0, 100.0, "exact"),
        (3, 0, 100.0, "exact"),
        (4, 1, 100.0, "exact"),
        (5, 0, 100.0, "exact"),
    ]


def test_empty_and_tiny_inputs():
    assert find_duplicates([], DEFAULT) == []
    assert find_duplicates(["only one"], DEFAULT) == []
    dups = find_duplicates(["", "hello there", " ... ", "Hello there!", ""], DEFAULT)
    assert [(d.index, d.of_index, d.kind) for d in dups] == [(2, 0, "exact"), (3, 1, "exact"), (4, 0, "exact")]


# --------------------------------------------------------------------------- near


def test_planted_near_duplicates_are_dropped():
    gen = Gen(2)
    base = gen.sentences(8)
    original = " ".join(base)
    few_words = gen.change_words(original, 3)
    swapped = gen.swap_words(original, 1)
    reordered = " ".join(base[4:] + base[:4])
    filler = [gen.text() for _ in range(20)]
    texts = [original, *filler[:10], few_words, swapped, *filler[10:], reordered]
    dups = by_index(find_duplicates(texts, DEFAULT))
    for variant in (few_words, swapped, reordered):
        i = texts.index(variant)
        d = dups[i]
        assert (d.of_index, d.kind) == (0, "near")
        assert d.score >= DEFAULT.threshold
        assert d.score == pytest.approx(tsr(original, variant))
    assert dups[texts.index(swapped)].score == 100.0  # token sort ignores word order
    assert dups[texts.index(reordered)].score == 100.0
    assert set(dups) == {texts.index(v) for v in (few_words, swapped, reordered)}


def test_ratio_scorer_is_order_sensitive():
    gen = Gen(3)
    base = gen.sentences(8)
    texts = [" ".join(base), " ".join(base[4:] + base[:4])]
    assert find_duplicates(texts, NearDupParams(scorer="ratio")) == []
    [d] = find_duplicates(texts, NearDupParams(scorer="token_sort_ratio"))
    assert (d.index, d.of_index, d.score, d.kind) == (1, 0, 100.0, "near")


def test_different_texts_on_the_same_topic_are_kept():
    scores = [tsr(a, b) for i, a in enumerate(SAME_TOPIC) for b in SAME_TOPIC[i + 1 :]]
    assert max(scores) < 70
    assert find_duplicates(SAME_TOPIC, DEFAULT) == []
    assert find_duplicates(SAME_TOPIC, NearDupParams(threshold=70)) == []


def test_first_wins():
    gen = Gen(4)
    a = gen.text()
    b = gen.change_words(a, 2)
    [d] = find_duplicates([a, b], DEFAULT)
    assert (d.index, d.of_index, d.kind) == (1, 0, "near")
    [d] = find_duplicates([b, a], DEFAULT)
    assert (d.index, d.of_index, d.kind) == (1, 0, "near")
    filler = [gen.text() for _ in range(5)]
    [d] = find_duplicates([*filler, b, *filler[:0], a], DEFAULT)
    assert (d.index, d.of_index) == (6, 5)


def chain(seed: int) -> tuple[str, str, str]:
    """k, r, t with r ~ k, t ~ r, but t not ~ k (at the default threshold)."""
    gen = Gen(seed)
    k = " ".join(gen.sentences(6))
    for _ in range(50):
        r = gen.change_words(k, 5)
        t = gen.change_words(r, 2)
        if tsr(k, r) >= 90 and tsr(r, t) > tsr(k, r) and tsr(k, t) < 90:
            return k, r, t
    raise AssertionError("could not build a chain")  # pragma: no cover


def test_duplicate_of_a_dropped_text_points_at_the_kept_original():
    k, r, t = chain(5)
    # r is dropped (near k); t matches only the dropped r, so it is kept.
    dups = find_duplicates([k, r, t], DEFAULT)
    assert [(d.index, d.of_index, d.kind) for d in dups] == [(1, 0, "near")]
    # an exact copy of the dropped r: not "exact of 1", but a near duplicate of a kept
    # text, and of the best-scoring kept one that precedes it.
    dups = by_index(find_duplicates([k, r, r.lower()], DEFAULT))
    assert (dups[2].of_index, dups[2].kind, dups[2].score) == (0, "near", pytest.approx(tsr(k, r)))
    dups = by_index(find_duplicates([k, r, t, r + " !"], DEFAULT))
    assert set(dups) == {1, 3}
    assert (dups[3].of_index, dups[3].kind, dups[3].score) == (2, "near", pytest.approx(tsr(t, r)))
    assert dups[3].score > tsr(k, r)
    # ... but not at a kept text that comes after the copy
    dups = by_index(find_duplicates([k, r, r + " !", t], DEFAULT))
    assert set(dups) == {1, 2}
    assert dups[2].of_index == 0


def test_threshold_is_inclusive_and_raising_it_keeps_both():
    gen = Gen(6)
    a = gen.text()
    b = gen.change_words(a, 2)
    score = tsr(a, b)
    assert 90 <= score < 100
    [d] = find_duplicates([a, b], NearDupParams(threshold=score))
    assert d.score == pytest.approx(score)
    assert find_duplicates([a, b], NearDupParams(threshold=min(100.0, score + 0.5))) == []
    assert find_duplicates([a, a.upper(), b], NearDupParams(enabled=False)) == []


def test_short_texts_and_stats():
    texts = [
        "I am so sorry.",
        "I am so sorry!!",
        "I am so very sorry.",
        "Thank you for sharing this.",
        "thank you for sharing that",
    ]
    stats: dict = {}
    dups = find_duplicates(texts, NearDupParams(threshold=80), stats=stats)
    expected = brute_force(texts, NearDupParams(threshold=80))
    assert dups == expected
    assert [(d.index, d.of_index, d.kind) for d in dups] == [(1, 0, "exact"), (2, 0, "near"), (4, 3, "near")]
    assert stats["texts"] == 5 and stats["unique"] == 4
    assert stats["exact"] == 1 and stats["near"] == 2
    assert stats["candidate_pairs"] >= stats["near_pairs"] == 2


# --------------------------------------------------------------------------- recall


def planted_corpus(seed: int, n: int) -> list[str]:
    gen = Gen(seed)
    texts: list[str] = []
    for i in range(n):
        u = gen.rng.random()
        if i > 5 and u < 0.25:
            src = texts[gen.rng.randrange(i)]
            op = gen.rng.randrange(4)
            if op == 0:
                texts.append(gen.change_words(src, gen.rng.randint(1, 12)))
            elif op == 1:
                texts.append(gen.swap_words(src, gen.rng.randint(1, 6)))
            elif op == 2:
                parts = src.split(". ")
                gen.rng.shuffle(parts)
                texts.append(". ".join(parts))
            else:
                texts.append(gen.swap_words(gen.change_words(src, gen.rng.randint(1, 6)), 2))
        elif i > 5 and u < 0.3:
            texts.append(texts[gen.rng.randrange(i)].lower())
        else:
            texts.append(gen.text())
    return texts


@pytest.mark.parametrize(
    "params",
    [DEFAULT, NearDupParams(max_word_count=20, min_tokens=8), NearDupParams(threshold=85)],
    ids=["default", "few-words-per-signature", "threshold-85"],
)
def test_recall_against_brute_force(params):
    texts = planted_corpus(7, 400)
    expected = brute_force(texts, params)
    got = find_duplicates(texts, params)
    near = [d for d in expected if d.kind == "near"]
    assert len(near) > 40
    found = {d.index for d in got} & {d.index for d in near}
    assert len(found) / len(near) == 1.0
    assert [(d.index, d.of_index, d.kind) for d in got] == [(d.index, d.of_index, d.kind) for d in expected]
    assert [d.score for d in got] == pytest.approx([d.score for d in expected])


def test_candidates_cover_all_pairs_above_threshold():
    texts = planted_corpus(8, 300)
    norm = list(dict.fromkeys(normalize(t) for t in texts))
    m = process.cdist(norm, norm, scorer=fuzz.token_sort_ratio, workers=-1)
    truth = {(i, j) for i, j in zip(*np.nonzero(m >= 90)) if i < j}
    pairs = candidate_pairs(norm, DEFAULT)
    assert pairs.dtype == np.int64 and pairs.shape[1] == 2
    assert np.all(pairs[:, 0] < pairs[:, 1])
    assert len(truth) > 30
    assert truth <= {tuple(p) for p in pairs.tolist()}


def test_progress_output_and_input_checks(capsys):
    texts = planted_corpus(10, 120)
    quiet = find_duplicates(texts, DEFAULT)
    assert find_duplicates(texts, DEFAULT, progress=True) == quiet
    assert "dedupe" in capsys.readouterr().err
    with pytest.raises(ValueError, match="normalized"):
        candidate_pairs(["two\nlines", "one line"], DEFAULT)


def test_deterministic():
    texts = planted_corpus(9, 300)
    first = find_duplicates(texts, DEFAULT)
    assert find_duplicates(list(texts), DEFAULT) == first
    assert len(first) > 50
