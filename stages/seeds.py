"""Stage 0, seeds: the stressor situations brainstorm starts from.

Reads the seed files `seeds.files` lists (data/seeds/: the shipped taxonomy and
your own CSV, JSONL or YAML), drops exact and near duplicates, takes
`scale.seeds_per_category` per category and, where the files run short, has the
model write the rest (synthempathy/seeds/grow.py). Writes data/taxonomy/seeds.jsonl.
"""

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import write_records
from synthempathy.core.metrics import SeedsMetrics, write_metrics
from synthempathy.core.params import load_params
from synthempathy.generation.generating_stage import generator_for
from synthempathy.seeds.grow import build_seed_set


@stage(reads=("seed_dir",), writes=("out", "rejects", "metrics"))
def main(files: Files) -> None:
    params = load_params(seed_dir=files.seed_dir)
    seed_set = build_seed_set(params, lambda stage: generator_for(stage, params))
    write_records(files.out, seed_set.seeds)
    write_records(files.rejects, seed_set.rejects)
    write_metrics(files.metrics, SeedsMetrics, seed_set.metrics)
    m = seed_set.metrics
    print(f"seeds: {m['seeds']} seeds ({m['from_files']} from files, {m['grown']} grown from {m['candidates']} "
          f"candidates), {m['missing']} missing, {len(seed_set.rejects)} rejected")


if __name__ == "__main__":
    main()
