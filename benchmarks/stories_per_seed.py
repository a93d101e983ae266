"""Where do more stories per seed stop paying? Near-duplicates and kept pairs against stories per seed.

Reads a finished run made with a large `scale.stories_per_seed` (SCALE.md used 24) and,
for each k, looks only at story numbers below k, which is exactly the run that
`stories_per_seed: k` would have made (ids, seeds and calls do not depend on k):
how many stories the brainstorm dedupe drops, how many distinct stories each seed
gives, how close each story is to its nearest sibling from the same seed (mean
rapidfuzz token_sort_ratio, 0-1), and, when the run went on to the corpus, how
many pairs were kept.

    python benchmarks/stories_per_seed.py /path/to/project --k 2 5 10 20 24
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def story_number(record_id: str) -> int:
    """Stories are `<seed id>-<NN>`; pairs keep their story's id."""
    return int(record_id.rsplit("-", 1)[1])


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def main() -> None:
    from synthempathy.core.params import load_params
    from synthempathy.core.records import Story
    from synthempathy.quality.dedupe import dedupe
    from synthempathy.quality.stats import nearest_neighbour_similarity

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project", type=Path)
    parser.add_argument("--k", type=int, nargs="+", default=[2, 5, 10, 20])
    args = parser.parse_args()
    params = load_params(args.project / "params.yaml")
    written = [Story.model_validate(r) for r in read(args.project / "data/stories/stories.jsonl")]
    written += [Story.model_validate(r["record"]) for r in read(args.project / "data/stories/rejects.jsonl")
                if r["reason"].endswith("_duplicate")]
    seeds = sorted({s.seed_id for s in written})
    seed_index = {seed: i for i, seed in enumerate(seeds)}
    corpus = read(args.project / "data/corpus/corpus.jsonl")
    rows = []
    for k in args.k:
        stories = [s for s in written if story_number(s.id) < k]
        kept, dropped = dedupe(stories, "story", params.filter.near_dup, "brainstorm",
                               priority=lambda s: (story_number(s.id), seed_index[s.seed_id]))
        pairs = sum(story_number(p["id"]) < k for p in corpus)
        within = [nearest_neighbour_similarity([s.story for s in stories if s.seed_id == seed]) for seed in seeds]
        rows.append({"stories_per_seed": k, "stories": len(stories), "duplicates": len(dropped),
                     "duplicate_share": round(len(dropped) / len(stories), 4) if stories else 0.0,
                     "distinct_per_seed": round(len(kept) / len(seeds), 2),
                     "within_seed_nearest_neighbour": round(sum(within) / len(within), 4), "kept_pairs": pairs})
    for before, row in zip([None, *rows], rows):
        if before is not None:
            extra = (row["stories"] - before["stories"]) or 1
            row["new_distinct_per_extra_story"] = round(
                (row["stories"] - row["duplicates"] - before["stories"] + before["duplicates"]) / extra, 3)
            row["new_pairs_per_extra_story"] = round((row["kept_pairs"] - before["kept_pairs"]) / extra, 3)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
