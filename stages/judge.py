"""Stage 5, judge: EPITOME empathy scores for every pair in the corpus.

judge.scorer picks the judge:
- llm (default): a model (judge.model, the embedded one by default) reads the
  rubric in prompts/judge.txt and answers with JSON that a grammar forces into
  the EpitomeScores schema;
- classifier: the TF-IDF + logistic-regression judge, or encoder: the
  sentence-encoder judge, that the calibration pipeline trained on the dev
  split of your EPITOME copy (judge.classifier, judge.encoder). They depend on
  the calibration params they were trained with (see dvc.yaml) and never fail.

Reads data/corpus/corpus.jsonl, writes data/judged/epitome.jsonl (scores
joined to pairs by id) and data/judged/failed.jsonl (pairs whose judgement
never validated; the classifier always answers).
"""

import sys

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import read_records, write_records
from synthempathy.core.metrics import GenerationMetrics, write_metrics
from synthempathy.core.params import load_params
from synthempathy.core.records import Pair
from synthempathy.epitome.judge import judge_stage
from synthempathy.epitome.trained import judge_pairs
from synthempathy.generation.driver import Item
from synthempathy.generation.generating_stage import run_generation


@stage(reads=("corpus",), writes=("out", "failed", "metrics"))
def main(files: Files) -> None:
    params = load_params()
    pairs = read_records(files.corpus, Pair)
    if params.judge.scorer != "llm":
        judgements = judge_pairs(pairs, params.judge, params.calibration, source=files.corpus)
        write_records(files.out, judgements)
        write_records(files.failed, [])
        write_metrics(files.metrics, GenerationMetrics, {"items": len(pairs), "kept": len(judgements), "rejected": {},
                                                         "retries": 0, "completion_tokens": 0})
        scorer = params.judge.scorer
        print(f"judge: {len(pairs)} pairs scored by the {scorer} {getattr(params.judge, scorer)}", file=sys.stderr)
        return
    judging = judge_stage(params, category=lambda pair: pair.category)
    inputs = [(p, Item(id=p.id, values={"explanation": p.explanation, "response": p.response})) for p in pairs]
    generated = run_generation(judging, params, inputs)
    write_records(files.out, generated.kept)
    write_records(files.failed, generated.rejects)
    write_metrics(files.metrics, GenerationMetrics, generated.metrics)


if __name__ == "__main__":
    main()
