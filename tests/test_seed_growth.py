"""The seeds stage grows a category with the real model, and growing again pays only for new items."""

import json
import re

import pytest

from synthempathy.seeds.grow import MAX_WORDS, MIN_WORDS

from dvc_project import make_project

pytestmark = pytest.mark.model


def calls(stderr: str, stage: str) -> tuple[int, int]:
    """(model calls, cache hits) from a stage's one-line summary."""
    found = re.findall(rf"^{stage}: .*model calls (\d+), cache hits (\d+)", stderr, re.M)
    assert found, f"no {stage} summary in:\n{stderr}"
    return tuple(map(int, found[-1]))


def lines(project, rel: str) -> list[dict]:
    return [json.loads(line) for line in project.read(rel).decode().splitlines()]


def attempts_of(project, stage: str, out: str, rejects: str, max_attempts: int) -> dict[str, int]:
    """Model calls each item of a one-step stage took: its attempts, or all of them when it failed."""
    spent = {r["id"]: r["provenance"][stage]["attempts"] for r in lines(project, out) if stage in r["provenance"]}
    for r in lines(project, rejects):
        provenance = r["record"].get("provenance", {})
        spent[r["id"]] = provenance[stage]["attempts"] if stage in provenance else max_attempts
    return spent


def test_growing_writes_valid_seeds_and_then_only_the_new_items(tmp_path):
    project = make_project(tmp_path / "repo", tmp_path / "cache")

    def scale(seeds_per_category: int, stories_per_seed: int):
        def edit(data: dict) -> None:
            data["scale"] = {"categories": ["work"], "seeds_per_category": seeds_per_category,
                             "stories_per_seed": stories_per_seed}
        return edit

    project.edit_params(scale(6, 1))  # the taxonomy has 5 work seeds: one must be written
    first = project.dvc("repro", "brainstorm").stderr
    seeds = lines(project, "data/taxonomy/seeds.jsonl")
    assert [s["source"] == "grown" for s in seeds] == [False] * 5 + [True]
    grown = seeds[-1]
    assert re.fullmatch(r"work-grown-\d{5}", grown["id"]) and grown["category"] == "work"
    assert MIN_WORDS <= len(grown["situation"].split()) <= MAX_WORDS and ":" not in grown["situation"]
    assert grown["provenance"]["seeds"]["prompt"] == "prompts/seeds.txt"
    metrics = json.loads(project.read("metrics/seeds.json"))
    assert (metrics["seeds"], metrics["from_files"], metrics["grown"], metrics["missing"]) == (6, 5, 1, 0)
    story = next(s for s in lines(project, "data/stories/stories.jsonl") if s["seed_id"] == grown["id"])
    assert story["situation"] == grown["situation"] and "seeds" in story["provenance"]  # lineage carries over
    seed_calls, seed_hits = calls(first, "seeds")
    story_calls, story_hits = calls(first, "brainstorm")
    assert seed_hits == 0 and story_hits == 0

    before_seeds = attempts_of(project, "seeds", "data/taxonomy/seeds.jsonl", "data/taxonomy/rejects.jsonl", 3)
    before_stories = attempts_of(project, "brainstorm", "data/stories/stories.jsonl", "data/stories/rejects.jsonl", 3)
    old_story_lines = set(project.read("data/stories/stories.jsonl").decode().splitlines())
    project.edit_params(scale(8, 2))
    second = project.dvc("repro", "brainstorm").stderr

    after_seeds = attempts_of(project, "seeds", "data/taxonomy/seeds.jsonl", "data/taxonomy/rejects.jsonl", 3)
    new_seed_items = {k: v for k, v in after_seeds.items() if k not in before_seeds and "-grown-" in k}
    assert new_seed_items, "the second run must have written new candidates"
    assert calls(second, "seeds") == (sum(new_seed_items.values()), seed_calls)
    assert lines(project, "data/taxonomy/seeds.jsonl")[:6] == seeds  # kept seeds stay kept

    after_stories = attempts_of(project, "brainstorm", "data/stories/stories.jsonl", "data/stories/rejects.jsonl", 3)
    new_stories = {k: v for k, v in after_stories.items() if k not in before_stories}
    assert len(after_stories) == 8 * 2 and len(new_stories) == 8 * 2 - 6
    assert calls(second, "brainstorm") == (sum(new_stories.values()), story_calls)
    assert old_story_lines <= set(project.read("data/stories/stories.jsonl").decode().splitlines())
