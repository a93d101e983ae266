"""Downstream 5, score: EPITOME levels for both models' answers, and what fine-tuning changed.

The judge is the best calibrated one (downstream.judge; see downstream/score.py). Writes
data/downstream/scores.jsonl, metrics/downstream.json (per prompt source: base and tuned ER, IP,
EX and total mean and std, response words, the relative change in percent with 95% paired-bootstrap
intervals; train pairs; the judge's QWK against humans), metrics/downstream_headline.json (the
change in EPITOME total to compare first) and the score distributions for
`dvc plots show downstream/dvc.yaml`.
"""

import sys

from synthempathy.core.jsonl import read_records, write_csv, write_json, write_records
from synthempathy.core.metrics import DownstreamMetrics, downstream_headline
from synthempathy.core.params import load_params
from synthempathy.core.paths import (DOWNSTREAM_ADAPTER, DOWNSTREAM_HEADLINE, DOWNSTREAM_RESPONSES,
                                     DOWNSTREAM_SCORES, metrics_of, plot_of)
from synthempathy.core.records import ModelAnswer
from synthempathy.core.entry_point import entry_point
from synthempathy.downstream.adapter import read_training
from synthempathy.downstream.measure import compare, score_rows
from synthempathy.downstream.score import score
from synthempathy.epitome.calibration import calibration_metrics_of

IN, ADAPTER, OUT = DOWNSTREAM_RESPONSES, DOWNSTREAM_ADAPTER, DOWNSTREAM_SCORES
METRICS, PLOT = metrics_of("downstream"), plot_of("downstream_scores")


@entry_point
def main() -> None:
    params = load_params()
    answers = read_records(IN, ModelAnswer)
    scores, entry = score(answers, params)
    ds = params.downstream
    metrics = {"train_pairs": read_training(ADAPTER)["pairs"], "judge": calibration_metrics_of(entry)}
    for source in sorted({s.source for s in scores}):
        metrics[source] = compare([s for s in scores if s.source == source], ds.bootstrap, ds.seed)
    write_records(OUT, scores)
    typed = DownstreamMetrics.model_validate(metrics)  # a renamed metric fails here, naming the key
    write_json(METRICS, metrics)
    write_json(DOWNSTREAM_HEADLINE, downstream_headline(typed))
    write_csv(PLOT, ("model", "mechanism", "score", "answers"), score_rows(scores))
    for source in sorted({s.source for s in scores}):
        block = metrics[source]
        total = block["change_pct"]["total"]
        print(f"score ({source}, {block['prompts']} prompts): total {block['base']['total']['mean']:.2f} -> "
              f"{block['tuned']['total']['mean']:.2f}, change {total['value']}% [{total['low']}, {total['high']}]",
              file=sys.stderr)


if __name__ == "__main__":
    main()
