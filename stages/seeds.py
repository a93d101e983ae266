"""Stage 0, seeds: the stressor situations brainstorm starts from.

Reads the seed files `seeds.files` lists (data/seeds/: the shipped taxonomy and
your own CSV, JSONL or YAML), drops exact and near duplicates, takes
`scale.seeds_per_category` per category and, where the files run short, has the
model write the rest (synthempathy/seeds/grow.py). Writes data/taxonomy/seeds.jsonl.
"""

from synthempathy.core.jsonl import write_json, write_records
from synthempathy.core.metrics import SeedsMetrics, checked
from synthempathy.core.params import load_params
from synthempathy.core.paths import SEED_REJECTS, SEED_SET, metrics_of
from synthempathy.core.entry_point import entry_point
from synthempathy.generation.generating_stage import generator_for
from synthempathy.seeds.grow import build_seed_set

OUT, REJECTS, METRICS = SEED_SET, SEED_REJECTS, metrics_of("seeds")


@entry_point
def main() -> None:
    params = load_params()
    seed_set = build_seed_set(params, lambda stage: generator_for(stage, params))
    write_records(OUT, seed_set.seeds)
    write_records(REJECTS, seed_set.rejects)
    write_json(METRICS, checked(SeedsMetrics, seed_set.metrics))
    m = seed_set.metrics
    print(f"seeds: {m['seeds']} seeds ({m['from_files']} from files, {m['grown']} grown from {m['candidates']} "
          f"candidates), {m['missing']} missing, {len(seed_set.rejects)} rejected")


if __name__ == "__main__":
    main()
