"""Calibration 1, split: EPITOME's human-labelled pairs -> dev and test, by seeker post.

Reads your copy of EPITOME's three Reddit CSVs from data/epitome/ (README,
"Calibrate the judge"); writes data/calibration/dev.jsonl and test.jsonl
(DVC outputs that are never pushed: the data is research-only) and the
split's counts to data/calibration/split.json.
"""

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import write_json, write_records
from synthempathy.core.params import load_params
from synthempathy.epitome.data import load_epitome_files, split_by_seeker


@stage(reads=("emotional_reactions", "interpretations", "explorations"), writes=("dev", "test", "split"))
def main(files: Files) -> None:
    params = load_params().calibration
    pairs, conflicts = load_epitome_files({"emotional_reaction": files.emotional_reactions,
                                           "interpretation": files.interpretations,
                                           "exploration": files.explorations})
    dev, test = split_by_seeker(pairs, params.dev_share, params.seed)
    write_records(files.dev, dev)
    write_records(files.test, test)
    write_json(files.split, {"pairs": len(pairs), "dropped_conflicting": conflicts, "dev": len(dev), "test": len(test),
                       "dev_posts": len({p.seeker_id for p in dev}), "test_posts": len({p.seeker_id for p in test})})
    print(f"split: {len(pairs)} EPITOME pairs ({conflicts} with conflicting labels dropped) -> "
          f"dev {len(dev)}, test {len(test)}")


if __name__ == "__main__":
    main()
