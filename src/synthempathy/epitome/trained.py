"""Scoring the corpus with a judge the calibration pipeline trained: the classifier or the encoder.

The judge stage cannot list the trained file as a DVC dependency (it is an
output of calibration/dvc.yaml, and the link would make every `dvc repro` need
EPITOME), so it depends on the params the file was trained with instead, and
this refuses a file trained with other ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from synthempathy.core.errors import UserError
from synthempathy.core.hashing import file_sha256
from synthempathy.core.params import CalibrationParams, JudgeParams
from synthempathy.core.paths import CORPUS, CORPUS_REJECTS
from synthempathy.core.records import ClassifierProvenance, Judgement, Pair
from synthempathy.epitome.scores import MECHANISMS

NAMES = {
    "classifier": "TF-IDF + logistic regression, trained on EPITOME dev",
    "encoder": "sentence encoder with a head per mechanism, trained on EPITOME dev",
}


def _module(scorer: str):
    if scorer == "classifier":
        from synthempathy.epitome import classifier

        return classifier
    from synthempathy.epitome import encoder

    return encoder


def judge_pairs(pairs: Sequence[Pair], judge: JudgeParams, calibration: CalibrationParams) -> list[Judgement]:
    """Levels for every pair from the trained judge judge.scorer (classifier or encoder) at the path
    the judge section names; refused when it was trained with other calibration params."""
    scorer = judge.scorer
    module, path = _module(scorer), Path(getattr(judge, scorer))
    loaded = module.load(path)  # checked before the empty-corpus check, so a stale file is named first
    training = module.training(loaded)
    trained = {k: v for k, v in training.items() if k != "dev_pairs"}
    if trained != module.training_of(calibration):
        raise UserError(f"judge.{scorer}: {path} was trained with {trained}, but params.yaml's calibration "
                        f"section now says {module.training_of(calibration)}; "
                        "re-run `dvc repro calibration/dvc.yaml`")
    if not pairs:
        raise UserError(f"judge: {CORPUS} holds no pairs, so the {scorer} has nothing to score "
                        f"(the filter's drops are in {CORPUS_REJECTS})")
    provenance = ClassifierProvenance(scorer=scorer, model=NAMES[scorer], model_sha256=file_sha256(path),
                                      training=training)
    levels = module.predict(loaded, [p.explanation for p in pairs], [p.response for p in pairs])
    return [Judgement(id=p.id, category=p.category, **{m: levels[m][i] for m in MECHANISMS}, provenance=provenance)
            for i, p in enumerate(pairs)]
