"""Calibration 5, report: agreement of every judge with the humans.

Writes metrics/judge_calibration.json (git-tracked; `dvc metrics diff` shows
what a judge prompt or model change did to QWK, macro-F1, accuracy, the
confusion matrices and label distributions) and one confusion plot per judge
and mechanism under plots/calibration/ for `dvc plots show calibration/dvc.yaml`.

Also writes calibration/calibrated_judges.json: each judge's identity and test
QWK, which the corpus pipeline's evaluate stage and the release card read to
show how far the corpus's scores can be trusted. It is a git-tracked input of
that pipeline on purpose, not an output declared here: a declared output would
link the two pipelines, and every `dvc repro` would then need EPITOME.
"""

import json
from pathlib import Path

from synthempathy.core.hashing import file_sha256
from synthempathy.core.jsonl import read_records, write_csv, write_json
from synthempathy.core.paths import (CALIBRATED, CALIBRATION_PLOTS, CLASSIFIER_JUDGEMENTS, CLASSIFIER_MODEL, DEV,
                                     ENCODER_JUDGEMENTS, ENCODER_MODEL, LLM_FAILED, LLM_JUDGEMENTS, SPLIT,
                                     SYNTHETIC_LABELS, TEST, metrics_of)
from synthempathy.core.params import load_params
from synthempathy.core.records import EpitomeExample, Judgement, Reject
from synthempathy.core.entry_point import entry_point
from synthempathy.epitome.calibration import calibrated_judges, calibration_metrics, confusion_rows
from synthempathy.epitome.data import read_synthetic
from synthempathy.epitome.scores import MECHANISMS, SHORT

LLM = LLM_JUDGEMENTS
TRAINED = {"classifier": (CLASSIFIER_JUDGEMENTS, CLASSIFIER_MODEL), "encoder": (ENCODER_JUDGEMENTS, ENCODER_MODEL)}
METRICS, PLOTS = metrics_of("judge_calibration"), CALIBRATION_PLOTS


def levels_of(records) -> dict[str, dict[str, int]]:
    return {r["id"]: {m: r[m] for m in MECHANISMS} for r in records}


def read_levels(path: str) -> dict[str, dict[str, int]]:
    with open(path, encoding="utf-8") as handle:
        return levels_of(json.loads(line) for line in handle)


@entry_point
def main() -> None:
    dev, test = read_records(DEV, EpitomeExample), read_records(TEST, EpitomeExample)
    synthetic = read_synthetic(SYNTHETIC_LABELS)
    llm_judgements = read_records(LLM, Judgement)
    judged = {"llm": levels_of(j.model_dump() for j in llm_judgements),
              **{name: read_levels(levels) for name, (levels, _) in TRAINED.items()}}
    failed = read_records(LLM_FAILED, Reject)
    with open(SPLIT, encoding="utf-8") as handle:
        split = json.load(handle)
    metrics = calibration_metrics(dev, test, synthetic, judged, len(failed), split, load_params().calibration.seed)
    write_json(METRICS, metrics)
    llm_provenance = llm_judgements[0].provenance if llm_judgements else None
    write_json(CALIBRATED, calibrated_judges(metrics, llm_provenance,
                                             {name: file_sha256(Path(model)) for name, (_, model) in TRAINED.items()}))
    scored = [e for e in test if e.id in judged["llm"]]
    for name, levels in judged.items():
        for m in MECHANISMS:
            write_csv(f"{PLOTS}/{name}_{SHORT[m]}.csv", ("human", "judge"), confusion_rows(scored, levels, m))
    def qwk(figures: dict) -> str:
        return " ".join(f"{SHORT[m]} {figures[SHORT[m]]['qwk']:+.2f}" for m in MECHANISMS)

    print("calibration QWK on EPITOME test: " + "; ".join(f"{n} {qwk(metrics[f'{n}_all_test'])}" for n in TRAINED)
          + f"; llm (on {len(scored)}) {qwk(metrics['llm'])}")
    print("calibration QWK on synthetic pairs: " + "; ".join(f"{n} {qwk(metrics['synthetic'][n])}" for n in judged))


if __name__ == "__main__":
    main()
