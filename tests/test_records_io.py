import json

import pytest
from hypothesis import given, strategies as st

from synthempathy.core.errors import UserError
from synthempathy.core.jsonl import dumps, read_records, write_json, write_records
from synthempathy.core.records import Reject, Story
from synthempathy.generation.driver import derive_seed

from fakes import provenance

PROV = provenance(sampling={"temperature": 0.7}, seed=5, completion_tokens=12)


def story(i=0, text="A story."):
    return Story(id=f"work-a-{i:02d}", seed_id="work-a", category="work", situation="s", story=text,
                 provenance={"brainstorm": PROV})


def test_round_trip_is_byte_stable(tmp_path):
    path = tmp_path / "out" / "s.jsonl"
    assert write_records(path, [story(0), story(1, "Ünïcode “quotes”.")]) == 2
    first = path.read_bytes()
    back = read_records(path, Story)
    assert back == [story(0), story(1, "Ünïcode “quotes”.")]
    write_records(path, back)
    assert path.read_bytes() == first
    assert "Ünïcode" in first.decode()  # stays readable, not \u-escaped


def test_broken_line_and_missing_field_name_the_line(tmp_path):
    path = tmp_path / "s.jsonl"
    good = dumps(story())
    path.write_text(good + "\n" + "{not json\n")
    with pytest.raises(UserError, match=r"s\.jsonl:2: not valid JSON"):
        read_records(path, Story)
    missing = json.loads(good)
    del missing["story"]
    path.write_text(good + "\n\n" + json.dumps(missing) + "\n")
    with pytest.raises(UserError, match=r"s\.jsonl:3: story: Field required"):
        read_records(path, Story)
    with pytest.raises(UserError, match="input file not found"):
        read_records(tmp_path / "none.jsonl", Story)


def test_unknown_fields_are_rejected(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "x", "stage": "filter", "reason": "empty", "surprise": 1}\n')
    with pytest.raises(UserError, match=r"r\.jsonl:1: surprise"):
        read_records(path, Reject)


def test_failed_write_keeps_previous_output(tmp_path):
    path = tmp_path / "m.json"
    write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # no temp file left behind


@given(st.integers(0, 2**31), st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=30))
def test_derived_seed_is_stable_in_range_and_differs_per_attempt(base, stage, item_id):
    seeds = [derive_seed(base, stage, item_id, attempt) for attempt in range(1, 6)]
    assert seeds == [derive_seed(base, stage, item_id, attempt) for attempt in range(1, 6)]
    assert all(0 <= s < 2**31 for s in seeds)
    assert len(set(seeds)) == 5


def test_derived_seed_known_value():
    # pinned: a silent change of the derivation would invalidate every cache and corpus
    assert derive_seed(2025, "respond", "work-deadline-00", 1) == 1964478838
    assert derive_seed(2025, "rewrite", "work-deadline-00", 1) != 1964478838


@given(st.text(), st.text(min_size=1))
def test_any_text_round_trips_through_jsonl(tmp_path_factory, text, seed_id):
    path = tmp_path_factory.mktemp("rt") / "s.jsonl"
    record = Story(id="x", seed_id=seed_id, category="c", situation=text, story=text, provenance={"brainstorm": PROV})
    write_records(path, [record])
    assert read_records(path, Story) == [record]
    assert path.read_text(encoding="utf-8").count("\n") == 1  # one record, one line, whatever the text holds
