"""Calibration 2, judge: the configured LLM judge on a sample of the test split.

The same judge as the corpus's judge stage (judge.prompt, judge.model, every
llm setting, grammar and validation), fed EPITOME's seeker post as the
explanation. Writes data/calibration/llm_judgements.jsonl and
llm_failed.jsonl; calibration.sample sets how many test pairs (the same ones
for the same seed; a larger sample keeps them and their cached calls).
"""

from synthempathy.epitome import sample
from synthempathy.generate import Item
from synthempathy.jsonl import read_records
from synthempathy.judge import judge_stage
from synthempathy.params import load_params
from synthempathy.records import EpitomeExample
from synthempathy.stage import entry_point, run_generation

TEST = "data/calibration/test.jsonl"
OUT, FAILED = "data/calibration/llm_judgements.jsonl", "data/calibration/llm_failed.jsonl"
RUN = "data/calibration/llm_judge_run.json"


@entry_point
def main() -> None:
    params = load_params()
    examples = sample(read_records(TEST, EpitomeExample), params.calibration.sample, params.calibration.seed)
    inputs = [(e, Item(id=e.id, values={"explanation": e.seeker_post, "response": e.response_post})) for e in examples]
    run_generation(judge_stage(params, category=lambda example: "epitome"), params, inputs, OUT, FAILED, RUN)


if __name__ == "__main__":
    main()
