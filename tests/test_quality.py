"""Each filter check with texts that must be kept and texts that must go."""

import pytest

from synthempathy.core.params import FilterParams, LlamaCppParams, NearDupParams, ToxicityParams
from synthempathy.core.records import Pair
from synthempathy.generation.llm import model_markers
from synthempathy.quality.dedupe import dedupe
from synthempathy.quality.gates import first_gate_problem, first_problem, gate_first_person, topic_overlap
from synthempathy.quality.toxicity import drop_toxic

from conftest import ROOT
from fakes import provenance

P = FilterParams(min_words={"explanation": 5, "response": 5}, max_words={"explanation": 60, "response": 60})
GOOD_EXPLANATION = "I lost my job last week and I keep wondering how I will pay the rent next month."
GOOD_RESPONSE = "That sounds frightening, and it makes sense that you feel worried. What has helped you so far?"
PROV = provenance(completion_tokens=1)


def pair(i: int, explanation: str = GOOD_EXPLANATION, response: str = GOOD_RESPONSE) -> Pair:
    return Pair(id=f"s-{i:02d}", seed_id="s", category="work", situation="x", story="y", explanation=explanation,
                emotion="fear", cause="job loss", response=response, provenance={"respond": PROV})


@pytest.mark.model  # reads each GGUF's vocabulary
@pytest.mark.parametrize("model, leaked", [("embedded", "<eos>"), ("smollm2", "<|im_end|>"),
                                            ("smollm2", "<|im_start|>")])
def test_the_generating_models_own_markers_are_read_from_its_gguf_and_dropped(model, leaked):
    """A chat model's turn markers (its GGUF's chat template) and every model's BOS/EOS texts join
    filter.leak_markers; the vocabulary alone is read, not the weights."""
    markers = model_markers(LlamaCppParams(model=model))
    assert leaked in markers and not any(m in P.leak_markers for m in markers)
    checks = P.with_markers(markers)
    assert checks.leak_markers == [*P.leak_markers, *markers] and checks.with_markers(markers) == checks
    response = f"That sounds hard for you.{leaked} What has helped so far?"
    assert first_problem(pair(0, response=response), ("response",), P) is None
    assert first_problem(pair(0, response=response), ("response",), checks) == (
        "template_leak", f"response: contains {leaked!r}")


def test_good_pair_passes():
    assert first_problem(pair(0), ("explanation", "response"), P) is None


@pytest.mark.parametrize(
    "response, reason",
    [
        ("   ", "empty"),
        ("That is hard.\nExplanation: I also lost my job", "template_leak"),
        ("Response: That sounds hard for you, truly.", "template_leak"),
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


def gated(**fields) -> Pair:
    base = dict(id="s-00", seed_id="s", category="work", situation="I lost my job and cannot pay the rent",
                story="Sam lost his job at the bakery last week and now worries about paying the rent.",
                explanation=GOOD_EXPLANATION, emotion="fear and worry", cause="Losing his income makes the rent "
                "feel impossible.", response=GOOD_RESPONSE, provenance={"respond": PROV})
    return Pair(**{**base, **fields})


def test_a_well_formed_pair_passes_every_gate_and_the_direct_baseline_has_no_fields_to_check():
    assert first_gate_problem(gated(), P) is None
    assert first_gate_problem(gated(emotion=None, cause=None), P) is None


@pytest.mark.parametrize(
    "fields, reason, detail",
    [
        ({"emotion": ""}, "bad_emotion", "emotion: empty"),
        ({"emotion": "Cause: Fear of losing money"}, "bad_emotion", "emotion: starts with a label: 'Cause: Fear"),
        ({"emotion": "- anxiety"}, "bad_emotion", "emotion: a list item"),
        ({"emotion": "A sudden realization that I am a failure"}, "bad_emotion", "emotion: 8 words > 4"),
        ({"cause": "Reason: I am scared to tell her."}, "bad_cause", "cause: starts with a label"),
        ({"cause": "1. Fear of rejection"}, "bad_cause", "cause: a list item"),
        ({"cause": " ".join(["because"] * 26)}, "bad_cause", "cause: 26 words > 25"),
        ({"explanation": "Director of HR: The deadline moved.\nProject Manager: I lost my job and the rent is due."},
         "not_first_person", "explanation: a dialogue between Director of HR, Project Manager"),
        ({"explanation": "Sam lost his job at the bakery and he worries that he cannot pay the rent this month."},
         "not_first_person", "explanation: 0.000 first-person words < 0.03"),
        ({"response": "The speaker is scared, and that is understandable given the job loss and the rent."},
         "not_second_person", "response: talks about 'The speaker'"),
        ({"response": "She lost her job and he says their rent is due; they are scared and she cannot sleep."},
         "not_second_person", "response: no you, 0.333 he/she/they words >= 0.03"),
        ({"explanation": "I adopted a puppy on Sunday and I am thrilled about our long walks in the park."},
         "off_topic", "explanation: uses 0.00 of its story's content words < 0.2"),
    ],
)
def test_each_gate_drops_what_a_reader_would_and_says_why(fields, reason, detail):
    problem = first_gate_problem(gated(**fields), P)
    assert problem is not None and problem[0] == reason and problem[1].startswith(detail), problem


@pytest.mark.parametrize("explanation", [
    "Today: I lost my job and I cannot stop thinking about how I will pay the rent.",
    "Update: my boss called again.\nI keep thinking about one thing: the rent I owe.",
    "My boss said: you are done here.\nMy wife said: we will manage. I lost my job and the rent is due.",
])
def test_colons_in_a_first_person_account_are_not_a_dialogue(explanation):
    assert gate_first_person(gated(explanation=explanation), P) is None


@pytest.mark.parametrize("response", [
    "It hurts when the person you trusted lets you down, and you deserve better than that.",
    "I lost my job two years ago and I remember the fear of the first rent day; it did get better.",
])
def test_a_reply_to_the_person_or_sharing_ones_own_story_is_not_about_them(response):
    assert first_gate_problem(gated(response=response), P) is None


def test_gates_can_be_switched_off_and_topic_overlap_counts_content_words():
    off = P.model_copy(update={"gates": P.gates.model_copy(update={"enabled": False})})
    assert first_gate_problem(gated(emotion="Cause: money"), off) is None
    # the source's content stems are lost, job, rent, pay, baker; the explanation uses lost, job, rent
    assert topic_overlap("I lost my job last week and worry about the rent.", "lost job rent pay bakery") == 0.6
    assert topic_overlap("anything", "") == 1.0


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


def test_filter_blocks_share_one_contract_and_drop_in_the_listed_order():
    from typing import get_args

    from synthempathy.core.params import FilterBlock
    from synthempathy.quality.blocks import BLOCKS, run_blocks

    assert set(BLOCKS) == set(get_args(FilterBlock)) == set(FilterParams().blocks)
    pairs = [pair(0), pair(1, response="So hard."), pair(2, explanation="She lost her job last week and she keeps "
                                                        "wondering how she will pay the rent next month."),
             pair(3)]
    kept, dropped = run_blocks(pairs, P)
    assert [p.id for p in kept] == ["s-00"]  # s-03 repeats s-00's texts
    assert [(r.id, r.reason) for r in dropped] == [("s-01", "too_short"), ("s-02", "not_first_person"),
                                                   ("s-03", "exact_duplicate")]  # in the pairs' order
    assert all(r.stage == "filter" and r.record["id"] == r.id for r in dropped)
    only_fields = P.model_validate({**P.model_dump(), "blocks": ["fields"]})
    kept, dropped = run_blocks(pairs, only_fields)
    assert [p.id for p in kept] == ["s-00", "s-02", "s-03"] and [r.id for r in dropped] == ["s-01"]
    for name, make in BLOCKS.items():  # every block: pairs in, (kept, rejects) out, nothing lost
        kept, dropped = make(P)(pairs)
        assert sorted([p.id for p in kept] + [r.id for r in dropped]) == [p.id for p in pairs], name


# Each gate's agreement with the 310 hand-labelled raw pairs, as benchmarks/QUALITY.md publishes it
# (rounded down): (flagged pairs with the gate's own reason, recall of that reason).
GATE_FLOORS = {"gate_emotion": ("bad_emotion", 1.0, 0.63), "gate_cause": ("bad_cause", 0.95, 0.16),
               "gate_first_person": ("not_first_person", 0.84, 0.82),
               "gate_second_person": ("not_second_person", 0.69, 0.35), "gate_topic": ("off_topic", 0.84, 0.32)}


def test_every_gate_holds_its_published_agreement_with_the_hand_labels():
    from synthempathy.core.params import load_params
    from synthempathy.quality.gate_agreement import agreement, load_gate_labels
    from synthempathy.quality.gates import GATES

    rows = load_gate_labels(ROOT / "tests/data/gate_labels.jsonl")
    params = load_params(ROOT / "params.yaml").filter
    assert len(rows) == 310
    for gate in GATES:
        reason, right_why, recall = GATE_FLOORS[gate.__name__]
        got = agreement([bool(gate(p, params)) for p, _ in rows], rows, reason)
        assert got["precision"] == 1.0 and got["right_why"] >= right_why and got["recall"] >= recall, (gate, got)
    whole = agreement([bool(first_problem(p, ("explanation", "response"), params) or first_gate_problem(p, params))
                       for p, _ in rows], rows, None)
    assert whole["flagged"] == 247 and whole["recall"] >= 0.79
