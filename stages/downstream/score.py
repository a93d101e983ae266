"""Downstream 5, score: EPITOME levels for both models' answers, and what fine-tuning changed.

The judge is the best calibrated one (downstream.judge; see downstream/score.py). Writes
data/downstream/scores.jsonl, metrics/downstream.json (per prompt source: base and tuned ER, IP,
EX and total mean and std, response words, the relative change in percent with 95% paired-bootstrap
intervals; train pairs; the judge's QWK against humans), metrics/downstream_headline.json (the
change in EPITOME total to compare first) and the score distributions for
`dvc plots show downstream/dvc.yaml`.
"""

import sys

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import read_records, write_csv, write_records
from synthempathy.core.metrics import DownstreamHeadline, DownstreamMetrics, downstream_headline, write_metrics
from synthempathy.core.params import load_params
from synthempathy.core.records import ModelAnswer
from synthempathy.downstream.adapter import read_training
from synthempathy.downstream.measure import compare, score_rows
from synthempathy.downstream.score import score
from synthempathy.epitome.calibration import calibration_metrics_of, read_calibrated


@stage(reads=("responses", "adapter", "calibrated"), writes=("out", "metrics", "headline", "plot"))
def main(files: Files) -> None:
    params = load_params()
    answers = read_records(files.responses, ModelAnswer)
    scores, entry = score(answers, params, read_calibrated(files.calibrated))
    ds = params.downstream
    metrics = {"train_pairs": read_training(files.adapter)["pairs"], "judge": calibration_metrics_of(entry)}
    for source in sorted({s.source for s in scores}):
        metrics[source] = compare([s for s in scores if s.source == source], ds.bootstrap, ds.seed)
    write_records(files.out, scores)
    typed = write_metrics(files.metrics, DownstreamMetrics, metrics)
    write_metrics(files.headline, DownstreamHeadline, downstream_headline(typed), under="headline")
    write_csv(files.plot, ("model", "mechanism", "score", "answers"), score_rows(scores))
    for source in sorted({s.source for s in scores}):
        block = metrics[source]
        total = block["change_pct"]["total"]
        print(f"score ({source}, {block['prompts']} prompts): total {block['base']['total']['mean']:.2f} -> "
              f"{block['tuned']['total']['mean']:.2f}, change {total['value']}% [{total['low']}, {total['high']}]",
              file=sys.stderr)


if __name__ == "__main__":
    main()
