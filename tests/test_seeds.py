import pytest

from synthempathy.errors import UserError
from synthempathy.params import ScaleParams
from synthempathy.seeds import load_seeds, select_seeds

from conftest import ROOT


def test_shipped_taxonomy_covers_sad_categories():
    seeds = load_seeds(ROOT / "data/seeds/stressors.yaml")
    categories = {s.category for s in seeds}
    assert {"work", "school", "finances", "health", "family", "social_relationships",
            "emotional_turmoil", "everyday_decisions", "other"} <= categories
    assert len({s.id for s in seeds}) == len(seeds)


def test_select_takes_first_n_per_category_in_order():
    seeds = load_seeds(ROOT / "data/seeds/stressors.yaml")
    picked = select_seeds(seeds, ScaleParams(categories=["school", "work"], seeds_per_category=2))
    assert [s.id for s in picked] == ["school-exam", "school-grade", "work-deadline", "work-criticism"]
    with pytest.raises(UserError, match="unknown categories \\['space'\\]"):
        select_seeds(seeds, ScaleParams(categories=["space"]))


@pytest.mark.parametrize(
    "text, message",
    [
        ("categories:\n  work: []\n", "category 'work' has no seeds"),
        ("categories:\n  work:\n    - {id: a, situation: x}\n    - {id: a, situation: y}\n", "duplicate seed id 'a'"),
        ("categories:\n  work:\n    - {id: a}\n", "exactly `id` and `situation`"),
        ("categories:\n  work:\n    - {id: A B, situation: x}\n", "must be lowercase"),
        ("categories: [unclosed\n", "not valid YAML"),
        ("nothing: here\n", "non-empty `categories:`"),
    ],
)
def test_bad_seed_files(tmp_path, text, message):
    path = tmp_path / "seeds.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_seeds(path)


def test_missing_seed_file(tmp_path):
    with pytest.raises(UserError, match="seed file not found"):
        load_seeds(tmp_path / "none.yaml")
