"""Calibration 3, classifier: train the second judge on dev, score every test pair.

Writes data/calibration/classifier.pkl (one TF-IDF + logistic regression per
mechanism; a DVC output, never committed or pushed, since it is derived from
research-only data) and data/calibration/classifier_judgements.jsonl (test pairs,
then the hand-labelled synthetic pairs of tests/data/synthetic_epitome.jsonl).
"""

from synthempathy.core.jsonl import read_records, write_records
from synthempathy.core.params import load_params
from synthempathy.core.paths import CLASSIFIER_JUDGEMENTS, CLASSIFIER_MODEL, DEV, SYNTHETIC_LABELS, TEST
from synthempathy.core.records import EpitomeExample
from synthempathy.core.entry_point import entry_point
from synthempathy.epitome import classifier
from synthempathy.epitome.data import read_synthetic
from synthempathy.epitome.scores import MECHANISMS

MODEL, OUT = CLASSIFIER_MODEL, CLASSIFIER_JUDGEMENTS


@entry_point
def main() -> None:
    params = load_params().calibration
    dev, test = read_records(DEV, EpitomeExample), read_records(TEST, EpitomeExample)
    scored = test + read_synthetic(SYNTHETIC_LABELS)
    bundle = classifier.train(dev, params)
    classifier.save(bundle, MODEL)
    levels = classifier.predict(bundle, [e.seeker_post for e in scored], [e.response_post for e in scored])
    write_records(OUT, [{"id": e.id, **{m: levels[m][i] for m in MECHANISMS}} for i, e in enumerate(scored)])
    print(f"classifier: trained on {len(dev)} dev pairs, scored {len(test)} test and {len(scored) - len(test)} "
          "synthetic pairs")


if __name__ == "__main__":
    main()
