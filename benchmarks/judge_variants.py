"""Which LLM-judge design agrees best with EPITOME's humans, and at what cost.

Issue 13 asks for evidence before a judge design is kept. This script scores
one seeded sample of the calibration *dev* split (never test: dev is where
designs are chosen) with each variant below, through the pipeline's own
Generator (same backend, request cache, retries and validation as the judge
stage; seeds derive from the variant's name), and prints QWK per mechanism with the cost per pair: model calls,
prompt tokens and completion tokens. Results and reading: JUDGE_VARIANTS.md.

  joint             prompts/judge.txt: one call for all three, JSON forced by the grammar (the default)
  joint_no_grammar  the same prompt, no grammar: the answer (up to a newline) must parse as the JSON object
  joint_epitome     one call, rubric worded after EPITOME's own definitions (judge_variants/joint_epitome.txt)
  few_shot_dev      joint_epitome with its examples replaced by --shots short dev pairs and their human labels
  per_mechanism     three calls, one per mechanism with EPITOME's definition, answer forced to one digit
  joint_greedy      the default at temperature 0

Needs data/calibration/dev.jsonl: `dvc repro calibration/dvc.yaml:split` after
linking your EPITOME copy into data/epitome/ (README, "Calibrate the judge").
The few-shot prompt is built in a temporary directory, so no EPITOME text is
ever written into the repository.

    PYTHONPATH=src python benchmarks/judge_variants.py --pairs 120
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from synthempathy.core.jsonl import read_records
from synthempathy.core.params import load_params
from synthempathy.core.records import EpitomeExample
from synthempathy.epitome.agreement import quadratic_weighted_kappa
from synthempathy.epitome.data import sample
from synthempathy.epitome.judge import epitome_grammar, judgement_problem
from synthempathy.epitome.scores import MECHANISMS, SHORT
from synthempathy.generation.cache import RequestCache
from synthempathy.generation.driver import Generator, Item, Step
from synthempathy.generation.llm import make_backend
from synthempathy.generation.prompts import load_template

HERE = Path(__file__).parent / "judge_variants"
DEV = "data/calibration/dev.jsonl"
DIGIT_GRAMMAR = 'root ::= " "? [012]\n'
SHOT_MAX_WORDS = 60


def digit_problem(fields: dict[str, str]) -> str | None:
    return None if fields["scores"].strip() in ("0", "1", "2") else f"not a level: {fields['scores'][:40]!r}"


def few_shot_prompt(pool: list[EpitomeExample], shots: int, seed: int, directory: Path) -> Path:
    """joint_epitome.txt with its worked examples replaced by `shots` short dev pairs, spread over total levels."""
    short = [e for e in sample(pool, None, seed)
             if len(e.seeker_post.split()) + len(e.response_post.split()) <= SHOT_MAX_WORDS]
    bands = ([e for e in short if sum(getattr(e, m) for m in MECHANISMS) <= 1],
             [e for e in short if 2 <= sum(getattr(e, m) for m in MECHANISMS) <= 3],
             [e for e in short if sum(getattr(e, m) for m in MECHANISMS) >= 4])
    chosen = [e for i in range(shots) for e in bands[i % 3][i // 3:i // 3 + 1]]
    rubric, *_ = (HERE / "joint_epitome.txt").read_text(encoding="utf-8").split("\n###\n")
    def literal(text: str) -> str:  # one line, and a "$" in a post is no placeholder
        return " ".join(text.split()).replace("$", "$$")

    blocks = [f"Seeker: {literal(e.seeker_post)}\nSupporter: {literal(e.response_post)}\n"
              f"Scores: {json.dumps({m: getattr(e, m) for m in MECHANISMS})}\n" for e in chosen]
    text = "\n###\n".join([rubric, *blocks, "Seeker: ${explanation}\nSupporter: ${response}\nScores:"]) + "\n"
    path = directory / "few_shot_dev.txt"
    path.write_text(text, encoding="utf-8")
    return path


def run_variant(name: str, calls: list[tuple[str, str | None, object, str]], examples: list[EpitomeExample],
                params, cache: RequestCache) -> dict:
    """calls: (prompt path, grammar, check, mechanism or 'all'); returns QWK and cost per pair."""
    levels: dict[str, dict[str, int]] = {e.id: {} for e in examples}
    failed: set[str] = set()
    cost = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
    sampling = params.judge.model_copy(update={"temperature": 0.0}) if name == "joint_greedy" else params.judge
    llm = params.judge_llm
    items = [Item(id=e.id, values={"explanation": e.seeker_post, "response": e.response_post}) for e in examples]
    for prompt, grammar, check, mechanism in calls:
        template = load_template(prompt, {"explanation", "response"})
        backend = make_backend(llm)
        try:
            generator = Generator(f"judge_variant_{name}_{mechanism}", template, sampling, llm, backend, cache,
                                  (Step("scores", single_line=grammar is None),), grammar, check)
            outcomes = generator.run(items)
            tokenizer = backend.llm if hasattr(backend, "llm") else None
            if tokenizer is not None:
                cost["prompt_tokens"] += sum(len(tokenizer.tokenize(template.render(**item.values).text.encode(),
                                                                   add_bos=True, special=True)) for item in items)
        finally:
            backend.close()
        cost["calls"] += generator.stats.model_calls + generator.stats.cache_hits
        cost["completion_tokens"] += generator.stats.completion_tokens
        for outcome in outcomes:
            if outcome.fields is None:
                failed.add(outcome.item.id)
            elif mechanism == "all":
                levels[outcome.item.id].update(json.loads(outcome.fields["scores"]))
            else:
                levels[outcome.item.id][mechanism] = int(outcome.fields["scores"].strip())
    scored = [e for e in examples if e.id not in failed]
    result = {"pairs": len(examples), "failed": len(failed)}
    for m in MECHANISMS:
        result[f"{SHORT[m]}_qwk"] = round(quadratic_weighted_kappa(
            [getattr(e, m) for e in scored], [levels[e.id][m] for e in scored]), 3)
    result.update({f"{k}_per_pair": round(v / len(examples), 1) for k, v in cost.items()})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=120, help="dev pairs scored by every variant")
    parser.add_argument("--shots", type=int, default=6, help="dev examples in the few_shot_dev prompt")
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    args = parser.parse_args()
    params = load_params()
    dev = read_records(DEV, EpitomeExample)
    examples = sample(dev, args.pairs, params.calibration.seed)
    scored_posts = {x.seeker_id for x in examples}
    pool = [e for e in dev if e.seeker_id not in scored_posts]  # no shot shares a post with a scored pair
    joint_grammar = epitome_grammar()
    cache = RequestCache()
    with tempfile.TemporaryDirectory() as tmp:
        variants = {
            "joint": [(params.judge.prompt, joint_grammar, judgement_problem, "all")],
            "joint_no_grammar": [(params.judge.prompt, None, judgement_problem, "all")],
            "joint_epitome": [(str(HERE / "joint_epitome.txt"), joint_grammar, judgement_problem, "all")],
            "few_shot_dev": [(str(few_shot_prompt(pool, args.shots, params.calibration.seed, Path(tmp))),
                              joint_grammar, judgement_problem, "all")],
            "per_mechanism": [(str(HERE / f"mechanism_{m}.txt"), DIGIT_GRAMMAR, digit_problem, m) for m in MECHANISMS],
            "joint_greedy": [(params.judge.prompt, joint_grammar, judgement_problem, "all")],
        }
        for name, calls in variants.items():
            if args.only and name not in args.only:
                continue
            result = run_variant(name, calls, examples, params, cache)
            print(json.dumps({"variant": name, **result}), flush=True)
            print(f"{name}: {result}", file=sys.stderr)
    cache.close()


if __name__ == "__main__":
    main()
