"""Stage 6, evaluate: what the corpus is like, next to the paper's figures.

Reads the corpus, its rejects and the judge's EPITOME scores; writes
metrics/evaluate.json (empathy scores, lengths beside the paper's means,
diversity, toxicity after filtering, the funnel, pairs per category),
metrics/headline.json (the few of them to compare first) and the
data behind `dvc plots show` in plots/ (length histograms, score
distributions per mechanism).

Beside the EPITOME means it reports how far they can be trusted: the test QWK
of the judge that produced them, from calibration/calibrated_judges.json
(written by `dvc repro calibration/dvc.yaml`), or calibrated 0 when that judge
(model, prompt, grammar, sampling; or classifier file) was never calibrated.
"""

import sys
from collections import Counter

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import read_records, write_csv
from synthempathy.core.metrics import EvaluateMetrics, Headline, headline, write_metrics
from synthempathy.core.params import load_params
from synthempathy.core.records import Judgement, Pair, Reject
from synthempathy.epitome.calibration import calibration_metrics_of, calibration_of, qwk_text, read_calibrated
from synthempathy.epitome.scores import MECHANISMS, SHORT, epitome_stats
from synthempathy.quality.stats import diversity, emotion_spread, funnel, histogram, word_stats
from synthempathy.quality.toxicity import still_toxic

FIELDS = ("explanation", "response")


def write_plots(files: Files, pairs: list[Pair], judgements: list[Judgement], bin_words: int) -> None:
    """Bar-chart data: pairs per word-length bin for each field, pairs per score for each mechanism."""
    for field, path in zip(FIELDS, (files.explanation_words, files.response_words)):
        bins = histogram([len(getattr(p, field).split()) for p in pairs], bin_words)
        rows = [(f"{edge:03d}-{edge + bin_words - 1:03d}", n) for edge, n in bins.items()]
        write_csv(path, ("words", "pairs"), rows)
    counts = Counter((m, getattr(j, m)) for j in judgements for m in MECHANISMS)
    rows = [(f"{SHORT[m]} {score}", counts[m, score]) for m in MECHANISMS for score in (0, 1, 2)]
    write_csv(files.epitome_plot, ("score", "pairs"), rows)


@stage(reads=("corpus", "rejects", "judgements", "judge_failed", "calibrated"),
       writes=("metrics", "headline", "explanation_words", "response_words", "epitome_plot"))
def main(files: Files) -> None:
    params = load_params()
    ev = params.evaluate
    pairs = read_records(files.corpus, Pair)
    rejects = read_records(files.rejects, Reject)
    judgements = read_records(files.judgements, Judgement)
    judge_failed = read_records(files.judge_failed, Reject)
    lengths = {field: word_stats([getattr(p, field) for p in pairs]) for field in FIELDS}
    calibration = calibration_of(judgements, read_calibrated(files.calibrated))
    metrics = {
        "pairs": len(pairs),
        "epitome": {**epitome_stats(judgements), "judged": len(judgements), "failed": len(judge_failed)},
        "judge_calibration": calibration_metrics_of(calibration),
        "explanation_words": {**lengths["explanation"], "paper_mean": ev.paper.explanation_words_mean},
        "response_words": {**lengths["response"], "paper_mean": ev.paper.response_words_mean},
        "diversity": {field: diversity([p.id for p in pairs], [getattr(p, field) for p in pairs],
                                       ev.diversity_sample) for field in FIELDS},
        "emotions": emotion_spread([p.emotion.split(" and ") for p in pairs if p.emotion]),
        "toxicity": still_toxic([[getattr(p, field) for field in FIELDS] for p in pairs], params.filter.toxicity),
        "funnel": funnel(len(pairs), rejects),
        "per_category": dict(sorted(Counter(p.category for p in pairs).items())),
    }
    typed = write_metrics(files.metrics, EvaluateMetrics, metrics)
    write_metrics(files.headline, Headline, headline(typed), under="headline")
    write_plots(files, pairs, judgements, ev.histogram_bin_words)
    total = metrics["epitome"]["total"]["mean"]
    trust = "judge not calibrated" if calibration is None else f"judge test QWK {qwk_text(calibration, signed=True)}"
    print(
        f"evaluate: {len(pairs)} pairs; EPITOME total {total}/6 over {len(judgements)} judged ({trust}); "
        f"explanation words {lengths['explanation']['mean']} (paper {ev.paper.explanation_words_mean}), "
        f"response words {lengths['response']['mean']} (paper {ev.paper.response_words_mean})",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
