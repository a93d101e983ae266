"""How well each quality gate agrees with hand labels: precision, recall, and a threshold sweep.

tests/data/gate_labels.jsonl holds raw pairs from this pipeline (before the
filter), each labelled keep or drop with the reasons a reader would give
(README of tests/data). For every gate in quality.GATES and every field check
in quality.CHECKS this prints, over all labelled pairs:

  flagged    pairs the check fails (each check on its own, not first-fail order)
  precision  share of flagged pairs labelled drop: a gate that drops good pairs is wrong too
  right_why  share of flagged pairs labelled with the gate's own reason (gates only)
  recall     share of pairs labelled with the gate's own reason that it flags

then the whole filter (every check and gate in order) against keep/drop, and,
with --sweep, precision and recall of each numeric threshold over a range, which
is how the defaults in params.yaml (filter.gates) were chosen. Results: QUALITY.md.

With the embedded model a reader keeps almost no raw pair, so the labels say
little about good pairs a gate would wrongly drop. --epitome DIR measures that
for the two voice gates on real people's text: EPITOME's Reddit seeker posts are
first-person accounts and its responses are spoken to the seeker, so the share
each gate fails is its false-drop rate on human writing (read from ../shared,
never copied).

    PYTHONPATH=src python benchmarks/gate_benchmark.py --sweep --epitome ../shared/epitome-data
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from synthempathy.core.params import FilterParams, load_params
from synthempathy.quality.gates import (CHECKS, GATES, first_gate_problem, first_problem, gate_cause, gate_emotion,
                                        gate_first_person, gate_second_person, gate_topic)
from synthempathy.core.records import Pair
from synthempathy.quality.gate_agreement import agreement, load_gate_labels

LABELS = Path(__file__).parent.parent / "tests" / "data" / "gate_labels.jsonl"
FIELDS = ("explanation", "response")
GATE_REASON = {"gate_emotion": "bad_emotion", "gate_cause": "bad_cause", "gate_first_person": "not_first_person",
               "gate_second_person": "not_second_person", "gate_topic": "off_topic"}
SWEEPS = {  # threshold -> (the gate it tunes, values tried)
    "emotion_max_words": (gate_emotion, [2, 3, 4, 5, 6, 8]),
    "cause_max_words": (gate_cause, [15, 20, 25, 30, 40, 60]),
    "first_person_min": (gate_first_person, [0.0, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08]),
    "third_person_min": (gate_second_person, [0.01, 0.02, 0.03, 0.05, 0.08, 1.01]),
    "topic_overlap_min": (gate_topic, [0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4]),
}


def with_gate(params: FilterParams, knob: str, value: float) -> FilterParams:
    """`params` with one filter.gates threshold changed."""
    return params.model_copy(update={"gates": params.gates.model_copy(update={knob: value})})


def flags_of(check: Callable[[Pair], object], rows: list[tuple[Pair, dict]]) -> list[bool]:
    return [bool(check(pair)) for pair, _ in rows]


def report(rows: list[tuple[Pair, dict]], params: FilterParams) -> dict:
    out = {}
    for gate in GATES:
        out[gate.__name__] = agreement(flags_of(lambda p, g=gate: g(p, params), rows), rows, GATE_REASON[gate.__name__])
    for check in CHECKS:
        out[check.__name__] = agreement(flags_of(lambda p, c=check: any(c(f, getattr(p, f), params) for f in FIELDS),
                                             rows), rows, None)
    whole = flags_of(lambda p: first_problem(p, FIELDS, params) or first_gate_problem(p, params), rows)
    out["filter (all checks and gates)"] = agreement(whole, rows, None)
    return out


def human_false_drops(directory: str, params: FilterParams) -> dict:
    """Share of EPITOME seeker posts the first-person gate fails, and of strong (level 2 ER or IP)
    responses the second-person gate fails, over the sweep values; pairs whose post or response
    is shorter than filter.min_words are left out, as the filter drops those anyway."""
    from synthempathy.epitome.data import load_epitome
    from synthempathy.quality.gates import gate_first_person, gate_second_person

    examples, _ = load_epitome(directory)
    long_enough = [e for e in examples  # what filter.min_words lets through, as in our pairs
                   if len(e.seeker_post.split()) >= params.min_words.explanation
                   and len(e.response_post.split()) >= params.min_words.response]
    posts = list({e.seeker_id: e.seeker_post for e in long_enough}.values())
    as_pair = [Pair(id="x", seed_id="x", category="x", situation="", story="", explanation=text,
                    response="You.", provenance={}) for text in posts]
    replies = [Pair(id="x", seed_id="x", category="x", situation="", story="", explanation="I.",
                    response=e.response_post, provenance={}) for e in long_enough if e.emotional_reaction == 2
               or e.interpretation == 2]

    def rate(gate, pairs, knob, value):
        return round(sum(bool(gate(p, with_gate(params, knob, value))) for p in pairs) / len(pairs), 3)

    return {
        f"seeker posts ({len(as_pair)}) failing first_person_min={v}": rate(gate_first_person, as_pair,
                                                                            "first_person_min", v)
        for v in SWEEPS["first_person_min"][1]
    } | {
        f"strong ER/IP replies ({len(replies)}) failing third_person_min={v}": rate(
            gate_second_person, replies, "third_person_min", v)
        for v in SWEEPS["third_person_min"][1]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="also sweep each gate threshold")
    parser.add_argument("--epitome", help="EPITOME's CSV directory: false-drop rates of the voice gates")
    args = parser.parse_args()
    rows = load_gate_labels(LABELS)
    params = load_params().filter
    drops = sum(not label["keep"] for _, label in rows)
    print(f"{len(rows)} labelled pairs, {drops} labelled drop; filter.gates = {params.gates.model_dump()}")
    for name, figures in report(rows, params).items():
        print(f"  {name:32} {figures}")
    if args.sweep:
        for knob, (gate, values) in SWEEPS.items():
            for value in values:
                figures = agreement(flags_of(lambda p: gate(p, with_gate(params, knob, value)), rows), rows,
                                GATE_REASON[gate.__name__])
                print(f"  sweep {knob}={value}: {figures}")
    if args.epitome:
        for name, share in human_false_drops(args.epitome, params).items():
            print(f"  {name}: {share}")


if __name__ == "__main__":
    main()
