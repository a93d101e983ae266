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
from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import read_records, write_csv, write_json
from synthempathy.core.metrics import CalibrationMetrics, write_metrics
from synthempathy.core.params import load_params
from synthempathy.core.records import EpitomeExample, Judgement, Reject
from synthempathy.epitome.calibration import TRAINED, calibrated_judges, calibration_metrics, confusion_rows
from synthempathy.epitome.data import read_synthetic
from synthempathy.epitome.scores import MECHANISMS, SHORT


def levels_of(records) -> dict[str, dict[str, int]]:
    return {r["id"]: {m: r[m] for m in MECHANISMS} for r in records}


def read_levels(path: str) -> dict[str, dict[str, int]]:
    with open(path, encoding="utf-8") as handle:
        return levels_of(json.loads(line) for line in handle)


@stage(reads=("dev", "test", "split", "synthetic", "llm_judgements", "llm_failed", "classifier_judgements",
              "classifier_model", "encoder_judgements", "encoder_model"),
       writes=("metrics", "plots", "calibrated"))
def main(files: Files) -> None:
    dev, test = read_records(files.dev, EpitomeExample), read_records(files.test, EpitomeExample)
    synthetic = read_synthetic(files.synthetic)
    llm_judgements = read_records(files.llm_judgements, Judgement)
    judged = {"llm": levels_of(j.model_dump() for j in llm_judgements),
              **{name: read_levels(getattr(files, f"{name}_judgements")) for name in TRAINED}}
    failed = read_records(files.llm_failed, Reject)
    with open(files.split, encoding="utf-8") as handle:
        split = json.load(handle)
    metrics = calibration_metrics(dev, test, synthetic, judged, len(failed), split, load_params().calibration.seed)
    write_metrics(files.metrics, CalibrationMetrics, metrics)
    llm_provenance = llm_judgements[0].provenance if llm_judgements else None
    models = {name: file_sha256(Path(getattr(files, f"{name}_model"))) for name in TRAINED}
    write_json(files.calibrated, calibrated_judges(metrics, llm_provenance, models))
    scored = [e for e in test if e.id in judged["llm"]]
    for name, levels in judged.items():
        for m in MECHANISMS:
            write_csv(f"{files.plots}/{name}_{SHORT[m]}.csv", ("human", "judge"), confusion_rows(scored, levels, m))
    def qwk(figures: dict) -> str:
        return " ".join(f"{SHORT[m]} {figures[SHORT[m]]['qwk']:+.2f}" for m in MECHANISMS)

    print("calibration QWK on EPITOME test: " + "; ".join(f"{n} {qwk(metrics[f'{n}_all_test'])}" for n in TRAINED)
          + f"; llm (on {len(scored)}) {qwk(metrics['llm'])}")
    print("calibration QWK on synthetic pairs: " + "; ".join(f"{n} {qwk(metrics['synthetic'][n])}" for n in judged))


if __name__ == "__main__":
    main()
