"""Seed files: the shipped taxonomy, your own CSV/JSONL/YAML rows, their errors and their dedupe."""

import json

import pytest

from synthempathy.core.errors import UserError
from synthempathy.core.params import Params, SeedParams, load_params
from synthempathy.seeds.files import derived_id, load_seed_files
from synthempathy.seeds.grow import build_seed_set, situation_of

from conftest import ROOT
from fakes import provenance

COLUMNS = SeedParams().columns
TAXONOMY = "categories:\n  work:\n    - {id: work-a, situation: A deadline moved up by a week.}\n  health: []\n"


def test_shipped_taxonomy_covers_sad_categories_and_records_lines():
    seeds, categories = load_seed_files([str(ROOT / "data/seeds/stressors.yaml")], COLUMNS)
    assert categories == ["work", "school", "finances", "health", "family", "social_relationships",
                          "emotional_turmoil", "everyday_decisions", "other"]
    assert len({s.id for s in seeds}) == len(seeds) == 45
    assert seeds[0].id == "work-deadline"
    assert seeds[0].source.endswith("stressors.yaml:8")
    line = (ROOT / "data/seeds/stressors.yaml").read_text().splitlines()[7]
    assert "id: work-deadline" in line


def write_files(tmp_path, **files):
    (tmp_path / "data/seeds").mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in files.items():
        path = tmp_path / "data/seeds" / name.replace("_", ".")
        path.write_text(text)
        paths.append(str(path))
    return paths


def test_rows_in_every_format_get_content_ids(tmp_path):
    paths = write_files(
        tmp_path,
        taxonomy_yaml=TAXONOMY,
        sad_csv='sentence,label\n"The boss moved the deadline, again.",Work\nA scan showed a shadow on the lung.,health\n',
        more_jsonl='{"sentence": "The car failed its inspection.", "label": "work", "sid": "car-1"}\n\n'
                   '{"sentence": "A knee injury ended the season.", "label": "health"}\n',
        rows_yaml="- {sentence: Waiting all week for test results., label: Health}\n",
    )
    seeds, categories = load_seed_files(paths, {"text": "sentence", "category": "label", "id": "sid"})
    assert categories == ["work", "health"]
    assert [(s.category, s.situation) for s in seeds] == [
        ("work", "A deadline moved up by a week."),
        ("work", "The boss moved the deadline, again."),
        ("health", "A scan showed a shadow on the lung."),
        ("work", "The car failed its inspection."),
        ("health", "A knee injury ended the season."),
        ("health", "Waiting all week for test results."),
    ]
    assert seeds[1].id == derived_id("work", "The boss moved the deadline, again.") == seeds[1].id
    assert seeds[1].id.startswith("work-") and len(seeds[1].id) == len("work-") + 12
    assert seeds[3].id == "car-1"
    assert [s.source.rsplit("/", 1)[1] for s in seeds] == [
        "taxonomy.yaml:3", "sad.csv:2", "sad.csv:3", "more.jsonl:1", "more.jsonl:3", "rows.yaml:1"]
    # the id depends on the content only: the same row elsewhere in another file keeps it
    other = write_files(tmp_path, again_csv='sentence,label\nx y z w,work\n"The boss  moved the deadline, again.",work\n')
    again, _ = load_seed_files([paths[0], *other], {"text": "sentence", "category": "label", "id": "sid"})
    assert again[2].id == seeds[1].id


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("bad.csv", "text,category\nA fine row here.,work\n ,work\n", r"bad.csv:3: empty situation text"),
        ("bad.csv", "text,category\nA row in space.,space\n", r"bad.csv:2: unknown category 'space' \(known: work, health\)"),
        ("bad.csv", "words,category\n", r"bad.csv:1: header has no column 'text'"),
        ("bad.jsonl", '{"text": "one row", "category": "work"}\n{"text": \n', r"bad.jsonl:2: not valid JSON"),
        ("bad.jsonl", '["a list"]\n', r"bad.jsonl:1: a row must be a JSON object"),
        ("bad.jsonl", '{"text": "a", "category": "work", "id": "work-a"}\n',
         r"bad.jsonl:1: duplicate seed id 'work-a' \(first at .*taxonomy.yaml:3\)"),
        ("bad.jsonl", '{"text": "a", "category": "work", "id": "work-grown-00001"}\n', r"bad.jsonl:1: id .* grown seed"),
        ("bad.jsonl", '{"text": "a", "category": "work", "id": "Not An Id"}\n', r"bad.jsonl:1: id 'Not An Id' must be"),
        ("bad.yaml", "- {text: fine, category: work}\n- {category: work}\n", r"bad.yaml:2: row has no 'text'"),
        ("bad.yaml", "categories: [unclosed\n", r"bad.yaml:2: not valid YAML"),
        ("bad.yaml", "categories:\n  work:\n    - {id: b}\n", r"bad.yaml:3: each seed of category 'work' needs exactly"),
        ("bad.txt", "hello\n", r"bad.txt: unknown seed file type '.txt'"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, name, text, message):
    taxonomy = write_files(tmp_path, taxonomy_yaml=TAXONOMY)[0]
    bad = tmp_path / "data/seeds" / name
    bad.write_text(text)
    with pytest.raises(UserError, match=message):
        load_seed_files([taxonomy, str(bad)], COLUMNS)


def test_missing_file_and_no_taxonomy(tmp_path):
    with pytest.raises(UserError, match="none.yaml: seed file not found"):
        load_seed_files([str(tmp_path / "none.yaml")], COLUMNS)
    rows = write_files(tmp_path, rows_csv="text,category\nA row.,work\n")
    with pytest.raises(UserError, match="seeds.files: none of .* is a taxonomy"):
        load_seed_files(rows, COLUMNS)


def test_seed_files_must_live_in_the_tracked_folder(tmp_path):
    params = tmp_path / "params.yaml"
    text = (ROOT / "params.yaml").read_text().replace("  - data/seeds/stressors.yaml\n", "  - /tmp/sad.csv\n")
    params.write_text(text)
    assert load_params(params).seeds.files == ["/tmp/sad.csv"]  # only the seeds stage knows its folder
    with pytest.raises(UserError, match=r"params.yaml:\d+: seeds.files: .*/tmp/sad.csv must be under data/seeds/"):
        load_params(params, seed_dir="data/seeds")


def small_params(**scale) -> Params:
    base = load_params(ROOT / "params.yaml")
    return base.model_copy(update={"scale": base.scale.model_copy(update=scale)})


def test_duplicates_are_dropped_with_reasons_and_files_fill_categories_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_files(
        tmp_path,
        stressors_yaml=(ROOT / "data/seeds/stressors.yaml").read_text(),
        mine_csv="text,category\n"
                 "A project deadline moved up by a week and the work is nowhere near done.,work\n"  # exact copy
                 "A project deadline moved up by one week and the work is nowhere near done.,work\n"  # near copy
                 "The office moved to the other side of the city.,work\n",
    )
    params = small_params(categories=["work"], seeds_per_category=6)
    params = params.model_copy(update={"seeds": params.seeds.model_copy(
        update={"files": ["data/seeds/stressors.yaml", "data/seeds/mine.csv"]})})

    def no_model(stage):
        raise AssertionError("the files fill every category: no model needed")

    seed_set = build_seed_set(params, no_model)
    assert [s.id for s in seed_set.seeds][:5] == ["work-deadline", "work-criticism", "work-layoffs",
                                                   "work-overtime", "work-credit"]
    assert seed_set.seeds[5].situation == "The office moved to the other side of the city."
    assert len(seed_set.seeds) == 6
    reasons = {r.reason: r for r in seed_set.rejects}
    assert set(reasons) == {"exact_duplicate", "near_duplicate"}
    assert reasons["exact_duplicate"].duplicate_of == "work-deadline"
    assert reasons["near_duplicate"].duplicate_of == "work-deadline"
    assert reasons["near_duplicate"].score >= params.filter.near_dup.threshold
    m = seed_set.metrics
    assert (m["seeds"], m["from_files"], m["grown"], m["candidates"], m["missing"]) == (6, 6, 0, 0, 0)
    assert m["rejected"] == {"exact_duplicate": 1, "near_duplicate": 1}
    assert 0 < m["diversity"]["nearest_neighbour_similarity"] < 1
    assert "grown" not in json.dumps([s.source for s in seed_set.seeds])


def test_situation_of_takes_the_first_unlabelled_line():
    assert situation_of("Situation: The bus never came.\nSituation: Another.") == "The bus never came."
    assert situation_of("\nCategory: work\nSituation:\nA rent rise.") == "A rent rise."
    assert situation_of("Situation:") == ""


class ScriptedGenerator:
    """Stands in for the model where a test needs outputs it cannot provoke on demand
    (copies and failures at chosen candidates); everything around it is the real stage code."""

    def __init__(self, text_of):
        self.text_of, self.seen = text_of, []
        self.stats = type("Stats", (), {"completion_tokens": 0, "model_calls": 0, "cache_hits": 0})()

    def run(self, items):
        from synthempathy.generation.driver import Outcome

        self.seen.append([item.id for item in items])
        outcomes = []
        for item in items:
            text = self.text_of(int(item.id.rsplit("-", 1)[1]))
            if text is None:
                outcomes.append(Outcome(item=item, reason="invalid", detail="scripted failure"))
                continue
            prov = provenance(prompt="prompts/seeds.txt")
            outcomes.append(Outcome(item=item, fields={"situation": text}, provenance=prov))
        return outcomes

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def grow_work(monkeypatch, text_of, seeds_per_category):
    monkeypatch.chdir(ROOT)
    generator = ScriptedGenerator(text_of)
    seed_set = build_seed_set(small_params(categories=["work"], seeds_per_category=seeds_per_category),
                              lambda stage: generator)
    return seed_set, generator


def test_growth_runs_rounds_until_the_missing_seeds_are_written(monkeypatch):
    script = {
        0: "A project deadline moved up by a week and the work is nowhere near done.",  # copies a file seed
        1: "The printer jammed an hour before the board meeting.",
        2: "The printer jammed an hour before the board meeting.",  # copies candidate 1
        3: None,  # the model failed every attempt
        4: "A new manager changed every process in the first week.",
        5: "The only colleague who knew the system quit without notice.",
    }
    seed_set, generator = grow_work(monkeypatch, script.get, 8)  # 5 in the taxonomy, 3 to write
    assert generator.seen == [["work-grown-00000", "work-grown-00001", "work-grown-00002"],
                              ["work-grown-00003", "work-grown-00004"], ["work-grown-00005"]]
    grown = [s for s in seed_set.seeds if s.source == "grown"]
    assert [s.id for s in grown] == ["work-grown-00001", "work-grown-00004", "work-grown-00005"]
    assert grown[0].situation == script[1] and "seeds" in grown[0].provenance
    assert [(r.id, r.reason, r.duplicate_of) for r in seed_set.rejects] == [
        ("work-grown-00000", "exact_duplicate", "work-deadline"),
        ("work-grown-00002", "exact_duplicate", "work-grown-00001"),
        ("work-grown-00003", "invalid", None),
    ]
    m = seed_set.metrics
    assert (m["seeds"], m["grown"], m["candidates"], m["missing"]) == (8, 3, 6, 0)


def test_a_category_that_only_gets_copies_gives_up_and_counts_what_is_missing(monkeypatch):
    seed_set, generator = grow_work(monkeypatch, lambda n: "A coworker took credit for an idea in a meeting.", 7)
    assert sum(len(r) for r in generator.seen) == 8  # seeds.max_candidates 4 x 2 missing
    m = seed_set.metrics
    assert (m["seeds"], m["grown"], m["candidates"], m["missing"]) == (5, 0, 8, 2)
    assert m["rejected"] == {"exact_duplicate": 8}
