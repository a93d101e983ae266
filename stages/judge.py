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

from synthempathy import classifier
from synthempathy.generate import Item
from synthempathy.jsonl import read_records
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
        classifier.run_judge(pairs, params, OUT, FAILED, METRICS)
        return
    stage = judge_stage(params, category=lambda pair: pair.category)
    inputs = [(p, Item(id=p.id, values={"explanation": p.explanation, "response": p.response})) for p in pairs]
    run_generation(stage, params, inputs, OUT, FAILED, METRICS)


if __name__ == "__main__":
    main()
