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

from synthempathy.core.jsonl import read_records
from synthempathy.core.params import load_params
from synthempathy.core.paths import CORPUS, JUDGE_FAILED, JUDGEMENTS, metrics_of
from synthempathy.core.records import Pair
from synthempathy.core.stage import entry_point
from synthempathy.epitome import classifier
from synthempathy.epitome.judge import judge_stage
from synthempathy.generation.generate import Item
from synthempathy.generation.run import run_generation

IN = CORPUS
OUT, FAILED, METRICS = JUDGEMENTS, JUDGE_FAILED, metrics_of("judge")


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
