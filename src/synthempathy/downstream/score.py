"""The judge that scores both models' answers: the best one calibrated against EPITOME's humans.

downstream.judge: auto takes the encoder judge where the calibration pipeline trained it (and
calibrated it: its file's sha256 is in calibration/calibrated_judges.json), else the classifier,
else the LLM judge of the judge section, which agrees with humans at chance on our kind of text,
and says so. Naming a judge uses that one, and still says when it was never calibrated.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from synthempathy.core.errors import UserError
from synthempathy.core.params import Params
from synthempathy.core.records import AnswerScore, Judgement, ModelAnswer
from synthempathy.epitome.calibration import calibration_of, qwk_text, trained_identity
from synthempathy.epitome.judge import judge_stage
from synthempathy.epitome.scores import MECHANISMS
from synthempathy.epitome.trained import TrainedJudge, load_trained
from synthempathy.generation.driver import Item
from synthempathy.generation.generating_stage import build_records, generator_for

TRAINED = ("encoder", "classifier")
"""Trained judges, best first (benchmarks/ENCODER.md)."""


def choose_trained(params: Params, calibrated: Sequence[Mapping]) -> TrainedJudge | None:
    """The trained judge downstream.judge asks for (auto: the best calibrated one), or None for the LLM judge."""
    setting = params.downstream.judge
    if setting in TRAINED:
        return load_trained(setting, params.judge, params.calibration)
    if setting == "llm":
        return None
    for scorer in TRAINED:
        try:
            trained = load_trained(scorer, params.judge, params.calibration)
        except UserError as exc:
            print(f"score: no {scorer} judge ({exc})", file=sys.stderr)
            continue
        identity = trained_identity(scorer, trained.provenance.model_sha256)
        if any(entry["judge"] == identity for entry in calibrated):
            return trained
        print(f"score: the {scorer} judge at judge.{scorer} is not the calibrated one; skipped", file=sys.stderr)
    return None


def key_of(answer: ModelAnswer) -> str:
    """An answer's id among both models' answers: `base/<prompt id>` or `tuned/<prompt id>`."""
    return f"{answer.model}/{answer.id}"


def score(answers: Sequence[ModelAnswer], params: Params, calibrated: Sequence[Mapping]
          ) -> tuple[list[AnswerScore], Mapping | None]:
    """Every answer's levels and the calibration entry of the judge that gave them (None: not calibrated),
    `calibrated` being calibration/calibrated_judges.json's entries."""
    trained = choose_trained(params, calibrated)
    if trained is not None:
        levels = trained.levels([a.explanation for a in answers], [a.response for a in answers])
        judgements = [Judgement(id=key_of(a), category=a.category, **{m: levels[m][i] for m in MECHANISMS},
                                provenance=trained.provenance) for i, a in enumerate(answers)]
        scorer = trained.provenance.scorer
    else:
        judgements, scorer = _llm_judgements(answers, params), "llm"
    entry = calibration_of(judgements, calibrated)
    print(f"score: {len(judgements)} of {len(answers)} answers scored by the {scorer} judge; "
          + (f"its QWK with EPITOME's humans: {qwk_text(entry)}" if entry else "judge not calibrated"), file=sys.stderr)
    by_key = {key_of(a): a for a in answers}
    return [_answer_score(by_key[j.id], j) for j in judgements], entry


def _answer_score(answer: ModelAnswer, judgement: Judgement) -> AnswerScore:
    return AnswerScore(id=answer.id, source=answer.source, model=answer.model,
                       response_words=len(answer.response.split()),
                       **{m: getattr(judgement, m) for m in MECHANISMS}, provenance=judgement.provenance)


def _llm_judgements(answers: Sequence[ModelAnswer], params: Params) -> list[Judgement]:
    """The LLM judge over every answer; one whose judgement never validated has no score (listed on stderr)."""
    stage = judge_stage(params, category=lambda answer: answer.category)
    inputs = [(a, Item(id=key_of(a), values={"explanation": a.explanation, "response": a.response}))
              for a in answers]
    with generator_for(stage, params) as generator:
        outcomes = generator.run([item for _, item in inputs])
    judgements, failed = build_records(stage, inputs, outcomes)
    if failed:
        print(f"score: the LLM judge failed on {len(failed)} answers: {', '.join(r.id for r in failed)}",
              file=sys.stderr)
    return judgements
