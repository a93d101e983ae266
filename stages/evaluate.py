"""Stage 5, evaluate: corpus statistics next to the paper's figures.

Reads the corpus and its rejects, writes metrics/evaluate.json: the funnel
from requested stories to kept pairs, word lengths of explanations and
responses beside the paper's means, and pairs per stressor category.
"""

import sys
from collections import Counter

from synthempathy.jsonl import read_records, write_json
from synthempathy.params import load_params
from synthempathy.records import Pair, Reject
from synthempathy.stage import entry_point
from synthempathy.stats import funnel, word_stats

CORPUS, REJECTS = "data/corpus/corpus.jsonl", "data/corpus/rejects.jsonl"
METRICS = "metrics/evaluate.json"


@entry_point
def main() -> None:
    params = load_params()
    pairs = read_records(CORPUS, Pair)
    rejects = read_records(REJECTS, Reject)
    paper = params.evaluate.paper
    explanation = word_stats([p.explanation for p in pairs])
    response = word_stats([p.response for p in pairs])
    metrics = {
        "pairs": len(pairs),
        "funnel": funnel(len(pairs), rejects),
        "explanation_words": {**explanation, "paper_mean": paper.explanation_words_mean},
        "response_words": {**response, "paper_mean": paper.response_words_mean},
        "per_category": dict(sorted(Counter(p.category for p in pairs).items())),
    }
    write_json(METRICS, metrics)
    print(
        f"evaluate: {len(pairs)} pairs; explanation words {explanation['mean']} (paper "
        f"{paper.explanation_words_mean}), response words {response['mean']} (paper {paper.response_words_mean})",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
