"""Calibration 4, report: agreement of both judges with the humans.

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
from synthempathy.core.paths import CALIBRATED, CALIBRATION_PLOTS, CLASSIFIER_JUDGEMENTS, CLASSIFIER_MODEL, DEV, LLM_FAILED, LLM_JUDGEMENTS, SPLIT, TEST, metrics_of
from synthempathy.core.records import EpitomeExample, Judgement, Reject
from synthempathy.core.stage import entry_point
from synthempathy.epitome.calibration import calibrated_judges, calibration_metrics, confusion_rows
from synthempathy.epitome.scores import MECHANISMS, SHORT

LLM, CLASSIFIER = LLM_JUDGEMENTS, CLASSIFIER_JUDGEMENTS
METRICS, PLOTS = metrics_of("judge_calibration"), CALIBRATION_PLOTS


def levels_of(records) -> dict[str, dict[str, int]]:
    return {r["id"]: {m: r[m] for m in MECHANISMS} for r in records}


@entry_point
def main() -> None:
    dev, test = read_records(DEV, EpitomeExample), read_records(TEST, EpitomeExample)
    llm_judgements = read_records(LLM, Judgement)
    llm = levels_of(j.model_dump() for j in llm_judgements)
    failed = read_records(LLM_FAILED, Reject)
    with open(CLASSIFIER, encoding="utf-8") as handle:
        classifier = levels_of(json.loads(line) for line in handle)
    with open(SPLIT, encoding="utf-8") as handle:
        split = json.load(handle)
    metrics = calibration_metrics(dev, test, llm, len(failed), classifier, split)
    write_json(METRICS, metrics)
    llm_provenance = llm_judgements[0].provenance if llm_judgements else None
    write_json(CALIBRATED, calibrated_judges(metrics, llm_provenance, file_sha256(Path(CLASSIFIER_MODEL))))
    scored = [e for e in test if e.id in llm]
    for name, judged in (("llm", llm), ("classifier", classifier)):
        for m in MECHANISMS:
            write_csv(f"{PLOTS}/{name}_{SHORT[m]}.csv", ("human", "judge"), confusion_rows(scored, judged, m))
    summary = ", ".join(f"{SHORT[m]} {metrics['llm'][SHORT[m]]['qwk']:+.2f}/{metrics['classifier'][SHORT[m]]['qwk']:+.2f}"
                        for m in MECHANISMS)
    print(f"calibration on {len(scored)} test pairs, QWK llm/classifier: {summary}")


if __name__ == "__main__":
    main()
