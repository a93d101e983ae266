"""Stage 5, judge: EPITOME empathy scores for every pair in the corpus.

judge.scorer picks the judge:
- llm (default): a model (judge.model, the embedded one by default) reads the
  rubric in prompts/judge.txt and answers with JSON that a grammar forces into
  the EpitomeScores schema;
- classifier: the TF-IDF + logistic-regression judge that the calibration
  pipeline trained on the dev split of your EPITOME copy (judge.classifier).
  It depends on the calibration params it was trained with (see dvc.yaml).

Reads data/corpus/corpus.jsonl, writes data/judged/epitome.jsonl (scores
joined to pairs by id) and data/judged/failed.jsonl (pairs whose judgement
never validated; the classifier always answers).
"""

import sys

from synthempathy import classifier
from synthempathy.generate import Item
from synthempathy.jsonl import read_records, write_json, write_records
from synthempathy.judge import judge_stage
from synthempathy.params import load_params
from synthempathy.records import Pair
from synthempathy.stage import entry_point, run_generation

IN = "data/corpus/corpus.jsonl"
OUT, FAILED, METRICS = "data/judged/epitome.jsonl", "data/judged/failed.jsonl", "metrics/judge.json"


@entry_point
def main() -> None:
    params = load_params()
    pairs = read_records(IN, Pair)
    if params.judge.scorer == "classifier":
        judgements = classifier.judge_pairs(pairs, params.judge.classifier, params.calibration)
        write_records(OUT, judgements)
        write_records(FAILED, [])
        model = {"name": classifier.NAME, "sha256": judgements[0].provenance.model_sha256 if judgements else ""}
        write_json(METRICS, {"items": len(pairs), "kept": len(judgements), "rejected": {}, "retries": 0,
                             "completion_tokens": 0, "model": model})
        print(f"judge: {len(pairs)} pairs scored by the classifier {params.judge.classifier}", file=sys.stderr)
        return
    stage = judge_stage(params, category=lambda pair: pair.category)
    inputs = [(p, Item(id=p.id, values={"explanation": p.explanation, "response": p.response})) for p in pairs]
    run_generation(stage, params, inputs, OUT, FAILED, METRICS)


if __name__ == "__main__":
    main()
