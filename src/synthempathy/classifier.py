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

from .errors import UserError
from .jsonl import write_atomic
from .judge import MECHANISMS
from .params import ClassifierParams
from .records import EpitomeExample

FORMAT = "synthempathy-epitome-classifier-1"


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


def train(examples: Sequence[EpitomeExample], params: ClassifierParams) -> dict:
    """Fit one classifier per mechanism on `examples` (the dev split)."""
    x = _columns([e.seeker_post for e in examples], [e.response_post for e in examples])
    models = {}
    for mechanism in MECHANISMS:
        labels = [getattr(e, mechanism) for e in examples]
        if len(set(labels)) < 2:
            raise UserError(f"calibration: every dev pair has {mechanism} level {labels[0]}; "
                            "a classifier needs at least two levels (raise calibration.dev_share)")
        models[mechanism] = _pipeline(params).fit(x, labels)
    return {"format": FORMAT, "params": params.model_dump(), "models": models}


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
        raise UserError(f"{path}: classifier not found; run `dvc repro calibration/dvc.yaml` first")
    bundle = pickle.loads(path.read_bytes())
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise UserError(f"{path}: not a classifier written by this version of synthempathy; re-run calibration")
    return bundle
