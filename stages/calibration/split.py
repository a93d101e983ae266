"""Calibration 1, split: EPITOME's human-labelled pairs -> dev and test, by seeker post.

Reads your copy of EPITOME's three Reddit CSVs from data/epitome/ (README,
"Calibrate the judge"); writes data/calibration/dev.jsonl and test.jsonl
(DVC outputs that are never pushed: the data is research-only) and the
split's counts to data/calibration/split.json.
"""

from synthempathy.epitome import load_epitome, split_by_seeker
from synthempathy.jsonl import write_json, write_records
from synthempathy.params import load_params
from synthempathy.stage import entry_point

EPITOME_DIR = "data/epitome"
DEV, TEST, SPLIT = "data/calibration/dev.jsonl", "data/calibration/test.jsonl", "data/calibration/split.json"


@entry_point
def main() -> None:
    params = load_params().calibration
    pairs, conflicts = load_epitome(EPITOME_DIR)
    dev, test = split_by_seeker(pairs, params.dev_share, params.seed)
    write_records(DEV, dev)
    write_records(TEST, test)
    write_json(SPLIT, {"pairs": len(pairs), "dropped_conflicting": conflicts, "dev": len(dev), "test": len(test),
                       "dev_posts": len({p.seeker_id for p in dev}), "test_posts": len({p.seeker_id for p in test})})
    print(f"split: {len(pairs)} EPITOME pairs ({conflicts} with conflicting labels dropped) -> "
          f"dev {len(dev)}, test {len(test)}")


if __name__ == "__main__":
    main()
