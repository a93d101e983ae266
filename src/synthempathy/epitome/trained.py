"""Scoring the corpus with a judge the calibration pipeline trained: the classifier or the encoder.

The judge stage cannot list the trained file as a DVC dependency (it is an
output of calibration/dvc.yaml, and the link would make every `dvc repro` need
EPITOME), so it depends on the params the file was trained with instead, and
this refuses a file trained with other ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthempathy.core.errors import UserError
from synthempathy.core.hashing import file_sha256
from synthempathy.core.params import CalibrationParams, JudgeParams
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


@dataclass(frozen=True)
class TrainedJudge:
    """A trained judge loaded from its file, checked against the calibration params."""

    module: Any
    loaded: Any
    provenance: ClassifierProvenance

    def levels(self, explanations: Sequence[str], responses: Sequence[str]) -> dict[str, list[int]]:
        """Mechanism -> a level per (explanation, response)."""
        return self.module.predict(self.loaded, list(explanations), list(responses))


def load_trained(scorer: str, judge: JudgeParams, calibration: CalibrationParams) -> TrainedJudge:
    """The classifier or encoder at the path the judge section names; refused when it was trained with
    other calibration params (or is missing, or not such a judge: the module's own one-line errors)."""
    module, path = _module(scorer), Path(getattr(judge, scorer))
    loaded = module.load(path)
    training = module.training(loaded)
    trained = {k: v for k, v in training.items() if k != "dev_pairs"}
    if trained != module.training_of(calibration):
        raise UserError(f"judge.{scorer}: {path} was trained with {trained}, but params.yaml's calibration "
                        f"section now says {module.training_of(calibration)}; "
                        "re-run `dvc repro calibration/dvc.yaml`")
    provenance = ClassifierProvenance(scorer=scorer, model=NAMES[scorer], model_sha256=file_sha256(path),
                                      training=training)
    return TrainedJudge(module, loaded, provenance)


def judge_pairs(pairs: Sequence[Pair], judge: JudgeParams, calibration: CalibrationParams,
                source: str) -> list[Judgement]:
    """Levels for every pair from the trained judge judge.scorer (classifier or encoder);
    `source` names the file the pairs came from, for the error when it holds none."""
    trained = load_trained(judge.scorer, judge, calibration)  # before the empty-corpus check: a stale file first
    if not pairs:
        raise UserError(f"judge: {source} holds no pairs, so the {judge.scorer} has nothing to score "
                        "(the filter's drops are in the corpus's rejects)")
    levels = trained.levels([p.explanation for p in pairs], [p.response for p in pairs])
    return [Judgement(id=p.id, category=p.category, **{m: levels[m][i] for m in MECHANISMS},
                      provenance=trained.provenance) for i, p in enumerate(pairs)]
