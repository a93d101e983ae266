"""Crisis disclosures: the detector and the response check on hand-written labels, idioms, the
policies, and what the card and the SFT export say."""


import pytest

from synthempathy.card import sensitive_content
from synthempathy.core.metrics import FilterMetrics
from synthempathy.core.params import SafetyParams, load_params
from synthempathy.core.records import Pair
from synthempathy.quality.safety_agreement import detector_scores, read_labels, response_scores
from synthempathy.quality.safety import CATEGORIES, apply_policy, check_response, flag, label, safety_counts
from synthempathy.release import sft_records

from conftest import ROOT

EXPLANATIONS, RESPONSES = ROOT / "tests/data/safety_explanations.jsonl", ROOT / "tests/data/safety_responses.jsonl"

# The held-out test split's figures in benchmarks/SAFETY.md, rounded down (the worst category
# for each): a change to the lexicon may not fall below what was measured. Raise them when
# it gets better; the dev split, which the lexicon was written against, scores higher.
DETECTOR_FLOOR = {"precision": 0.7, "recall": 0.25}
NONE_FLAGGED_CEILING = 0.08
RESPONSE_ACCURACY_FLOOR = 0.93


@pytest.mark.parametrize("split", ["dev", "test"])
def test_detector_on_labelled_explanations(split):
    scores = detector_scores(read_labels(EXPLANATIONS, split))
    for category in CATEGORIES:
        assert scores[category]["labelled"] >= 15
        assert scores[category]["precision"] >= DETECTOR_FLOOR["precision"], (category, scores[category])
        assert scores[category]["recall"] >= DETECTOR_FLOOR["recall"], (category, scores[category])
    assert scores["none_flagged"]["rate"] <= NONE_FLAGGED_CEILING


@pytest.mark.parametrize("split", ["dev", "test"])
def test_response_check_on_labelled_responses(split):
    scores = response_scores(read_labels(RESPONSES, split))
    assert scores["labelled"] >= 30
    assert scores["accuracy"] >= RESPONSE_ACCURACY_FLOOR, scores


@pytest.mark.parametrize("text", [
    "This deadline is killing me and I have not slept properly in a week.",
    "I could murder a coffee right now, the night shift was endless.",
    "My feet are killing me after standing at the till all day.",
    "I'm dying to know whether I got the job, they said Friday.",
    "I nearly died of embarrassment when my slides would not load.",
    "My boss will kill me if the report is late again.",
    "I got killed twelve times in the game last night and my brother laughed.",
    "Taking that job would be career suicide, everyone says so.",
    "I am dead tired after the move and the boxes are everywhere.",
    "My idea got shot down in the meeting and I felt stupid.",
    "It suddenly hit me that I will graduate without any friends here.",
    "My grandfather had a heart attack ten years ago and is fine now, but I still worry.",
])
def test_idioms_and_safe_mentions_are_not_risk(text):
    assert flag(text) is None


@pytest.mark.parametrize("text, category", [
    ("Some nights I think everyone would be better off without me.", "suicide_self_harm"),
    ("I started cutting myself again after the exam results.", "suicide_self_harm"),
    ("He threatened to kill me if I tell anyone about last night.", "abuse_violence"),
    ("My stepdad hits me when he has been drinking.", "abuse_violence"),
    ("My chest is tight and the pain is going down my left arm.", "medical_emergency"),
    ("I took too many pills an hour ago and now I feel strange.", "medical_emergency"),
])
def test_plain_disclosures_are_flagged_with_their_phrase(text, category):
    found = flag(text)
    assert found is not None and found.category == category
    assert found.phrase and found.phrase in text


SAFE = ("Thank you for telling me. I am really worried about you, and this sounds serious. Please call or text "
        "988 or your local emergency number right now, and ask someone you trust to stay with you.")


def test_response_check_names_each_problem():
    assert check_response(SAFE).complies
    assert check_response("Everyone has bad days. Try a bubble bath and an early night.").problems == (
        "no_acknowledgement", "no_referral", "minimising")
    unsafe = check_response("I am worried about you. Taking more pills will not help; please call 988.")
    assert unsafe.problems == ("method_detail",)


def pair(pair_id: str, explanation: str, response: str) -> Pair:
    return Pair(id=pair_id, seed_id="s", category="health", situation="x", story="y", explanation=explanation,
                response=response, provenance={})


PAIRS = [
    pair("a", "I keep thinking about ending my life since the divorce.", SAFE),
    pair("b", "I keep thinking about ending my life since the divorce, every night.", "Try to get some sleep."),
    pair("c", "My chest is crushing and I can't breathe properly.", SAFE),
    pair("d", "The exam is tomorrow and I am not ready.", "That sounds stressful."),
]


@pytest.mark.parametrize("policy, kept_ids, reasons", [
    ("drop", ["d"], {"a": "crisis_disclosure", "b": "crisis_disclosure", "c": "crisis_disclosure"}),
    ("label", ["a", "b", "c", "d"], {}),
    ("require_compliant", ["a", "c", "d"], {"b": "unsafe_response"}),
])
def test_each_policy_keeps_labels_or_drops_with_a_reason(policy, kept_ids, reasons):
    labelled = [label(p) for p in PAIRS]
    assert [p.safety.category if p.safety else None for p in labelled] == [
        "suicide_self_harm", "suicide_self_harm", "medical_emergency", None]
    assert labelled[1].safety.response_problems == ["no_acknowledgement", "no_referral"]
    params = SafetyParams(policy={c: policy for c in CATEGORIES})
    kept, dropped = apply_policy(labelled, params, "filter")
    assert [p.id for p in kept] == kept_ids
    assert {r.id: r.reason for r in dropped} == reasons
    assert all(r.detail.split(":")[0] in CATEGORIES and r.record["safety"] for r in dropped)
    counts = safety_counts(labelled, kept, dropped)
    assert counts["suicide_self_harm"] == {"flagged": 2, "compliant": 1, "dropped": len(set(reasons) & {"a", "b"}),
                                           "kept": len({"a", "b"} & set(kept_ids))}
    assert counts["abuse_violence"] == {"flagged": 0, "compliant": 0, "dropped": 0, "kept": 0}


def test_sft_export_labels_or_omits_flagged_pairs():
    labelled = [label(p) for p in PAIRS]
    labelled_sft = sft_records(labelled, "label")
    assert len(labelled_sft) == 4 and labelled_sft[0]["safety"]["category"] == "suicide_self_harm"
    assert "safety" not in labelled_sft[3]
    assert [r["messages"][0]["content"] for r in sft_records(labelled, "omit")] == [PAIRS[3].explanation]


def test_card_states_policy_counts_and_sft_handling():
    params = load_params(ROOT / "params.yaml")
    labelled = [label(p) for p in PAIRS]
    kept, dropped = apply_policy(labelled, params.filter.safety, "filter")
    filt = FilterMetrics(pairs_in=len(labelled), kept=len(kept), dropped={},
                         safety=safety_counts(labelled, kept, dropped))
    text = sensitive_content(params, filt, kept)
    assert "| suicide self harm | 2 | 1 | require_compliant | 1 | 1 |" in text
    assert "| medical emergency | 1 | 1 | require_compliant | 0 | 1 |" in text
    assert "carry their `safety` label" in text
    off = params.model_copy(update={"filter": params.filter.model_copy(update={"safety": SafetyParams(enabled=False)})})
    unchecked = FilterMetrics(pairs_in=len(labelled), kept=len(kept), dropped={})
    assert sensitive_content(off, unchecked, kept).startswith("Crisis disclosures were not checked")


def test_labelled_sets_are_well_formed():
    explanations, responses = read_labels(EXPLANATIONS, "all"), read_labels(RESPONSES, "all")
    assert len(explanations) >= 150 and len(responses) >= 60
    assert len({r["id"] for r in explanations}) == len(explanations)
    assert all(r["compliant"] == (not r["problems"]) for r in responses)
