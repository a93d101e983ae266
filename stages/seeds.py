"""Stage 0, seeds: the stressor situations brainstorm starts from.

Reads the seed files `seeds.files` lists (data/seeds/: the shipped taxonomy and
your own CSV, JSONL or YAML), drops exact and near duplicates, takes
`scale.seeds_per_category` per category and, where the files run short, has the
model write the rest (synthempathy/grow.py). Writes data/taxonomy/seeds.jsonl.
"""

from synthempathy.grow import build_seed_set
from synthempathy.jsonl import write_json, write_records
from synthempathy.params import load_params
from synthempathy.stage import entry_point, generator_for

OUT, REJECTS, METRICS = "data/taxonomy/seeds.jsonl", "data/taxonomy/rejects.jsonl", "metrics/seeds.json"


@entry_point
def main() -> None:
    params = load_params()
    seed_set = build_seed_set(params, lambda stage: generator_for(stage, params))
    write_records(OUT, seed_set.seeds)
    write_records(REJECTS, seed_set.rejects)
    write_json(METRICS, seed_set.metrics)
    m = seed_set.metrics
    print(f"seeds: {m['seeds']} seeds ({m['from_files']} from files, {m['grown']} grown from {m['candidates']} "
          f"candidates), {m['missing']} missing, {len(seed_set.rejects)} rejected")


if __name__ == "__main__":
    main()
