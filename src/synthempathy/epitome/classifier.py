"""A trained EPITOME judge: one TF-IDF + logistic-regression classifier per mechanism.

Why a second judge: the paper scored its corpus with classifiers trained on
EPITOME, and an LLM judge on a small CPU model agrees with humans at chance
level. A linear model over word n-grams trains on the dev split in seconds,
scores thousands of pairs in milliseconds, is deterministic, needs no
download, and gives the LLM judge a floor to beat in
metrics/judge_calibration.json.

Features: word 1-2-grams of the response (what the mechanisms are about) and
word unigrams of the seeker post (context), TF-IDF weighted with sublinear
term frequency. Classes are weighted by inverse frequency, since level 1 is
rare for IP and EX and an unweighted model would never predict it.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

from synthempathy.core.errors import UserError
from synthempathy.core.jsonl import write_atomic
from synthempathy.core.params import CalibrationParams, ClassifierParams
from synthempathy.core.records import EpitomeExample
from synthempathy.epitome.scores import MECHANISMS

FORMAT = "synthempathy-epitome-classifier-2"


def _pipeline(params: ClassifierParams):
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    features = ColumnTransformer([
        ("response", TfidfVectorizer(ngram_range=(1, 2), min_df=params.min_df, sublinear_tf=True), 1),
        ("seeker", TfidfVectorizer(min_df=params.min_df, sublinear_tf=True), 0),
    ])
    model = LogisticRegression(C=params.c, class_weight="balanced", max_iter=5000)
    return Pipeline([("features", features), ("model", model)])


def _columns(seekers: Sequence[str], responses: Sequence[str]):
    import numpy as np

    return np.array([list(seekers), list(responses)], dtype=object).T


def training_of(calibration: CalibrationParams, dev_pairs: int | None = None) -> dict:
    """What a classifier's scores depend on besides EPITOME itself (recorded in the bundle)."""
    out = {"classifier": calibration.classifier.model_dump(), "dev_share": calibration.dev_share,
           "seed": calibration.seed}
    return out if dev_pairs is None else {**out, "dev_pairs": dev_pairs}


PER_PROCESS = ("stop_words_", "_stop_words_id")
"""Vectorizer attributes whose pickled bytes change from process to process: the set of
n-grams min_df pruned (kept only for inspection; scikit-learn says it may go before
pickling), which pickles in string-hash order, and a memory address (id()) cached to skip
re-checking stop words."""


def _reproducible(pipeline):
    """The fitted pipeline without PER_PROCESS attributes, so the same training gives the same
    file bytes and sha256, the classifier judge's identity in calibrated_judges.json."""
    for _, vectorizer, _ in pipeline.named_steps["features"].transformers_:
        for name in PER_PROCESS:
            if hasattr(vectorizer, name):
                delattr(vectorizer, name)
    return pipeline


def train(examples: Sequence[EpitomeExample], calibration: CalibrationParams) -> dict:
    """Fit one classifier per mechanism on `examples` (the dev split)."""
    x = _columns([e.seeker_post for e in examples], [e.response_post for e in examples])
    models = {}
    for mechanism in MECHANISMS:
        labels = [getattr(e, mechanism) for e in examples]
        if len(set(labels)) < 2:
            raise UserError(f"calibration: every dev pair has {mechanism} level {labels[0]}; "
                            "a classifier needs at least two levels (raise calibration.dev_share)")
        models[mechanism] = _reproducible(_pipeline(calibration.classifier).fit(x, labels))
    return {"format": FORMAT, "training": training_of(calibration, len(examples)), "models": models}


def predict(bundle: dict, seekers: Sequence[str], responses: Sequence[str]) -> dict[str, list[int]]:
    """Levels per mechanism for each (seeker post, response)."""
    x = _columns(seekers, responses)
    return {m: [int(v) for v in bundle["models"][m].predict(x)] for m in MECHANISMS}


def save(bundle: dict, path: str | Path) -> None:
    write_atomic(path, pickle.dumps(bundle, protocol=5))


def load(path: str | Path) -> dict:
    """The bundle `save` wrote. Only load files this pipeline wrote: pickle runs code."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"judge.classifier: {path} not found; train it with `dvc repro calibration/dvc.yaml` "
                        "(needs your EPITOME copy, README 'Calibrate the judge') or set judge.scorer: llm")
    bundle = pickle.loads(path.read_bytes())
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise UserError(f"judge.classifier: {path} was not written by this version of synthempathy; "
                        "re-run `dvc repro calibration/dvc.yaml`")
    return bundle


def training(bundle: dict) -> dict:
    """What the loaded classifier was trained with (epitome/trained.py compares it to params.yaml)."""
    return bundle["training"]
