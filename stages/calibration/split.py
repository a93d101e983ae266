"""Calibration 1, split: EPITOME's human-labelled pairs -> dev and test, by seeker post.

Reads your copy of EPITOME's three Reddit CSVs from data/epitome/ (README,
"Calibrate the judge"); writes data/calibration/dev.jsonl and test.jsonl
(DVC outputs that are never pushed: the data is research-only) and the
split's counts to data/calibration/split.json.
"""

from synthempathy.core.jsonl import write_json, write_records
from synthempathy.core.params import load_params
from synthempathy.core.paths import DEV, EPITOME_DIR, SPLIT, TEST
from synthempathy.core.entry_point import entry_point
from synthempathy.epitome.data import load_epitome, split_by_seeker



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
