"""Each filter check with texts that must be kept and texts that must go."""

import pytest

from synthempathy.dedupe import NearDupParams
from synthempathy.params import FilterParams
from synthempathy.quality import dedupe, drop_toxic, first_problem
from synthempathy.records import Pair, Provenance
from synthempathy.toxicity import ToxicityParams

P = FilterParams(min_words={"explanation": 5, "response": 5}, max_words={"explanation": 60, "response": 60})
GOOD_EXPLANATION = "I lost my job last week and I keep wondering how I will pay the rent next month."
GOOD_RESPONSE = "That sounds frightening, and it makes sense that you feel worried. What has helped you so far?"
PROV = Provenance(model="m", model_sha256="0", prompt="p", prompt_sha256="1", prompt_format="completion",
                  sampling={}, seed=1, attempts=1, finish_reason="stop", completion_tokens=1)


def pair(i: int, explanation: str = GOOD_EXPLANATION, response: str = GOOD_RESPONSE) -> Pair:
    return Pair(id=f"s-{i:02d}", seed_id="s", category="work", situation="x", story="y", explanation=explanation,
                emotion="fear", cause="job loss", response=response, provenance={"respond": PROV})


def test_good_pair_passes():
    assert first_problem(pair(0), ("explanation", "response"), P) is None


@pytest.mark.parametrize(
    "response, reason",
    [
        ("   ", "empty"),
        ("That is hard.\nExplanation: I also lost my job", "template_leak"),
        ("<start_of_turn>model That sounds hard for you, truly.", "template_leak"),
        ("As an AI, I cannot feel emotions but that sounds hard.", "refusal"),
        ("I am so sorry you are going through this. I am so sorry you are going through this.", "repetition"),
        ("That sounds really hard and I think that you should", "cut_off"),
        ("So hard.", "too_short"),
        (" ".join(["word"] * 70) + ".", "too_long"),
    ],
)
def test_bad_responses_are_dropped_with_reason(response, reason):
    problem = first_problem(pair(0, response=response), ("explanation", "response"), P)
    assert problem is not None and problem[0] == reason
    assert "response" in problem[1]


def test_quotes_after_final_punctuation_are_not_cut_off():
    assert first_problem(pair(0, response=GOOD_RESPONSE[:-1] + '?"'), ("response",), P) is None


def test_dedupe_drops_later_near_duplicate_and_names_the_original():
    reordered = "I keep wondering how I will pay the rent next month. I lost my job last week and."
    records = [pair(2, explanation=reordered), pair(1), pair(3, explanation="My cat is sick and the vet is far away from home.")]
    kept, dropped = dedupe(records, "explanation", NearDupParams(threshold=85), stage="filter")
    assert [r.id for r in kept] == ["s-01", "s-03"]  # input order, minus the duplicate
    assert len(dropped) == 1
    assert dropped[0].id == "s-02" and dropped[0].duplicate_of == "s-01" and dropped[0].reason == "near_duplicate"
    assert dropped[0].score >= 85


def test_dedupe_keeps_input_order_and_exact_copies_go():
    records = [pair(3), pair(1, explanation=GOOD_EXPLANATION.upper()), pair(2, explanation="Something else entirely happened to me today at school.")]
    kept, dropped = dedupe(records, "explanation", NearDupParams(), stage="filter")
    assert [r.id for r in kept] == ["s-01", "s-02"]
    assert dropped[0].id == "s-03" and dropped[0].reason == "exact_duplicate" and dropped[0].duplicate_of == "s-01"


def test_toxic_pairs_are_dropped_with_label_and_score():
    records = [pair(0), pair(1, response="Shut up you stupid idiot, nobody cares about your pathetic fucking problems.")]
    kept, dropped = drop_toxic(records, ("explanation", "response"), ToxicityParams(), stage="filter")
    assert [r.id for r in kept] == ["s-00"]
    assert dropped[0].id == "s-01" and dropped[0].reason == "toxic"
    assert dropped[0].detail == "response: offensive" and dropped[0].score >= 0.5
