"""Calibration 2, judge: the configured LLM judge on a sample of the test split.

The same judge as the corpus's judge stage (judge.prompt, judge.model, every
llm setting, grammar and validation), fed EPITOME's seeker post as the
explanation. Writes data/calibration/llm_judgements.jsonl and
llm_failed.jsonl; calibration.sample sets how many test pairs (the same ones
for the same seed; a larger sample keeps them and their cached calls). The
hand-labelled synthetic pairs of tests/data/synthetic_epitome.jsonl follow.
"""

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import read_records, write_records
from synthempathy.core.metrics import GenerationMetrics, write_metrics
from synthempathy.core.params import load_params
from synthempathy.core.records import EpitomeExample
from synthempathy.epitome.data import read_synthetic, sample
from synthempathy.epitome.judge import judge_stage
from synthempathy.generation.driver import Item
from synthempathy.generation.generating_stage import run_generation


@stage(reads=("test", "synthetic"), writes=("out", "failed", "run"))
def main(files: Files) -> None:
    params = load_params()
    examples = sample(read_records(files.test, EpitomeExample), params.calibration.sample, params.calibration.seed)
    examples += read_synthetic(files.synthetic)
    inputs = [(e, Item(id=e.id, values={"explanation": e.seeker_post, "response": e.response_post})) for e in examples]
    generated = run_generation(judge_stage(params, category=lambda example: "epitome"), params, inputs)
    write_records(files.out, generated.kept)
    write_records(files.failed, generated.rejects)
    write_metrics(files.run, GenerationMetrics, generated.metrics)


if __name__ == "__main__":
    main()
