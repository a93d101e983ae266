"""Calibration 4, encoder: train the encoder judge on dev, score every test pair and the synthetic set.

With calibration.encoder.synthetic_train it also trains on calibration/synthetic_train.jsonl:
hand-labelled synthetic-style pairs with rationales, other than the ones it is scored on, each
calibration.encoder.synthetic_repeat times.

Writes data/calibration/encoder.safetensors (the trained judge; a DVC output,
never committed or pushed, since it is derived from research-only data),
data/calibration/encoder_judgements.jsonl (test pairs, then the hand-labelled
synthetic pairs of tests/data/synthetic_epitome.jsonl) and the fine-tuning
loss per step for `dvc plots show calibration/dvc.yaml`.
"""

import sys
import time

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import read_records, write_csv, write_records
from synthempathy.core.params import load_params
from synthempathy.core.records import EpitomeExample
from synthempathy.epitome import encoder
from synthempathy.epitome.data import read_synthetic
from synthempathy.epitome.scores import MECHANISMS


@stage(reads=("dev", "test", "synthetic", "synthetic_train"), writes=("model", "out", "loss"))
def main(files: Files) -> None:
    params = load_params().calibration
    dev, test = read_records(files.dev, EpitomeExample), read_records(files.test, EpitomeExample)
    scored = test + read_synthetic(files.synthetic)
    extra = (read_synthetic(files.synthetic_train) * params.encoder.synthetic_repeat
             if params.encoder.synthetic_train else [])
    start = time.perf_counter()
    trained = encoder.train(dev + extra, params)
    trained_s = time.perf_counter() - start
    levels = encoder.predict(trained, [e.seeker_post for e in scored], [e.response_post for e in scored], label="score")
    encoder.save(trained, files.model)
    write_records(files.out, [{"id": e.id, **{m: levels[m][i] for m in MECHANISMS}} for i, e in enumerate(scored)])
    write_csv(files.loss, ("step", "loss"), enumerate(trained.losses))
    print(f"encoder: trained on {len(dev)} dev and {len(extra)} synthetic pairs (with repeats) in {trained_s:.0f} s, "
          f"scored {len(scored)} pairs in {time.perf_counter() - start - trained_s:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
