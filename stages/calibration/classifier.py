"""Calibration 3, classifier: train the second judge on dev, score every test pair.

Writes data/calibration/classifier.pkl (one TF-IDF + logistic regression per
mechanism; a DVC output, never committed or pushed, since it is derived from
research-only data) and data/calibration/classifier_judgements.jsonl (test pairs,
then the hand-labelled synthetic pairs of tests/data/synthetic_epitome.jsonl).
"""

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import read_records, write_records
from synthempathy.core.params import load_params
from synthempathy.core.records import EpitomeExample
from synthempathy.epitome import classifier
from synthempathy.epitome.data import read_synthetic
from synthempathy.epitome.scores import MECHANISMS


@stage(reads=("dev", "test", "synthetic"), writes=("model", "out"))
def main(files: Files) -> None:
    params = load_params().calibration
    dev, test = read_records(files.dev, EpitomeExample), read_records(files.test, EpitomeExample)
    scored = test + read_synthetic(files.synthetic)
    bundle = classifier.train(dev, params)
    classifier.save(bundle, files.model)
    levels = classifier.predict(bundle, [e.seeker_post for e in scored], [e.response_post for e in scored])
    write_records(files.out, [{"id": e.id, **{m: levels[m][i] for m in MECHANISMS}} for i, e in enumerate(scored)])
    print(f"classifier: trained on {len(dev)} dev pairs, scored {len(test)} test and {len(scored) - len(test)} "
          "synthetic pairs")


if __name__ == "__main__":
    main()
