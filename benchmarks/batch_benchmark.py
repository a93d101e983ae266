"""The real batched backend, driven by the real driver: tokens/s per llm.batch_size, the padded
decode ceiling, and whether outputs stay the same when the items arrive in another order.

What runs: for each size in --sizes, `make_backend(llm)` with `llm.batch_size` = size (1 is the
one-at-a-time backend) under `Generator`, exactly as a stage runs it, on the respond prompt
(prompts/respond.txt) filled with the first --items explanations (generation_benchmark.load_items),
with params.yaml's respond sampling and --max-tokens, one attempt per item (a retry only starts
when its first attempt ends, which would measure the retry chain, not the decoder). --steps
response (default) runs the response step alone, one long generation per item; --steps chain
runs the stage's three Chain-of-Empathy steps with its emotion list, where a step's prompt
extends the previous one. Each round loads the model afresh, warms it up with one call (not
timed), then runs every item against an empty request cache, in a shuffled order (round 0
keeps it).

Reported per size (median over rounds, range in brackets):
  stage tok/s   generated tokens / wall seconds of Generator.run (what a stage gets);
  ceiling tok/s rows x decode steps / decode seconds (backend.timing): the fixed-row steps'
                throughput if every row were busy; the driver's and the scheduler's losses
                (prefilling one item while the other rows wait, idle rows) are the gap;
  ratio         stage / ceiling (issue 18 asks >= 0.8 for every stage);
  prefill share scheduler seconds spent evaluating prompts / (prefill + decode);
  rows busy     share of decode rows that carried an item rather than padding;
  prompt kept   share of prompt tokens (beyond the static prefix) a slot still held from the
                item's previous step instead of evaluating them again;
  prompt calls  llama_decode calls that evaluated prompts, per item (alone: one per piece; with
                --prompt-chunks N: prompt steps shared by every waiting slot); on a GPU a call
                costs about the same whatever it holds, so this, not the prefill share measured
                on a CPU, is what prompt steps cut there;
  differing     items whose output differs from round 0 of the same size (must be 0: batches
                hold other neighbours, slots and arrival times in every round).

Usage: PYTHONPATH=src .venv/bin/python benchmarks/batch_benchmark.py
         [--sizes 1,8] [--items 32] [--rounds 2] [--max-tokens 96] [--threads 2]
         [--steps response|chain] [--prompt-chunks 0,32] [--n-gpu-layers 0] [--json F]
On a GPU: --sizes 8,16,32,64 --prompt-chunks 0,32 --n-gpu-layers -1 with a CUDA build of
llama-cpp-python.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))

from generation_benchmark import load_items, loadavg  # noqa: E402
from synthempathy.core.params import LlamaCppParams, load_params  # noqa: E402
from synthempathy.generation.cache import RequestCache  # noqa: E402
from synthempathy.generation.driver import Generator, Step  # noqa: E402
from synthempathy.generation.llm import make_backend  # noqa: E402
from synthempathy.generation.prompts import load_template  # noqa: E402


def steps_for(which: str, respond) -> tuple[Step, ...]:
    """`response`: the response step alone (one long generation per item); `chain`: the respond
    stage's three Chain-of-Empathy steps, its emotion list included."""
    if which == "response":
        return (Step("response", "\nResponse:"),)
    from synthempathy.chain_of_empathy import respond_steps

    return respond_steps(respond.model_copy(update={"chain_of_empathy": True, "use_emotion_list": True}), ROOT)


def run_once(llm: LlamaCppParams, sampling, items, order: list[int], steps: tuple[Step, ...]) -> dict:
    """One Generator.run over `items` in `order` with a new backend and an empty cache, after a
    warm-up call (model load, context, static prefix: one-time costs a long stage amortises)."""
    template = load_template(ROOT / "prompts/respond.txt", {"explanation", "guidance"})
    backend = make_backend(llm)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            warm = RequestCache(Path(tmp) / "warm.sqlite")
            Generator("respond", template, sampling.model_copy(update={"max_tokens": 1}), llm, backend, warm,
                      steps[-1:]).run(items[:1])
            warm.close()
            timing = getattr(backend, "timing", None)
            if timing:
                backend.timing = timing = type(timing)()
            cache = RequestCache(Path(tmp) / "requests.sqlite")
            generator = Generator("respond", template, sampling, llm, backend, cache, steps)
            start = time.perf_counter()
            outcomes = generator.run([items[i] for i in order])
            wall = time.perf_counter() - start
            cache.close()
    finally:
        backend.close()
    return {
        "wall_s": wall,
        "tokens": generator.stats.model_tokens,
        "stage_tok_s": generator.stats.model_tokens / wall,
        "ceiling_tok_s": timing.ceiling(llm.batch_size) if timing else None,
        "prefill_share": timing.prefill_s / (timing.prefill_s + timing.decode_s) if timing else None,
        "busy_rows": timing.busy_rows / (llm.batch_size * timing.steps) if timing else None,
        "reused_tokens": timing.reused_tokens if timing else None,
        "prefill_tokens": timing.prefill_tokens if timing else None,
        "prompt_calls": timing.prompt_calls / len(items) if timing else None,
        "texts": {o.item.id: (o.fields, o.reason, o.detail) for o in outcomes},
    }


def spread(values: list[float], digits: int = 1) -> str:
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,8")
    ap.add_argument("--items", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-gpu-layers", type=int, default=0)
    ap.add_argument("--steps", choices=["response", "chain"], default="response")
    ap.add_argument("--prompt-chunks", default="0", help="llm.prompt_chunk values to run at each size >1")
    ap.add_argument("--json")
    args = ap.parse_args()
    params = load_params(ROOT / "params.yaml")
    steps = steps_for(args.steps, params.respond)
    sampling = params.respond.model_copy(update={"max_tokens": args.max_tokens})
    items, source = load_items(args.items)
    rows, results = [], {}
    chunks = [int(c) for c in args.prompt_chunks.split(",")]
    configs = [(size, chunk) for size in (int(s) for s in args.sizes.split(","))
               for chunk in (chunks if size > 1 else [0])]
    for size, chunk in configs:
        llm = params.llm.model_copy(update={"batch_size": size, "prompt_chunk": chunk, "n_threads": args.threads,
                                            "max_attempts": 1, "n_gpu_layers": args.n_gpu_layers,
                                            "prompt_format": "completion"})
        runs = []
        for r in range(args.rounds):
            order = list(range(len(items)))
            if r:
                random.Random(r).shuffle(order)
            load_before = loadavg()
            runs.append(run_once(llm, sampling, items, order, steps))
            runs[-1]["load"] = (load_before, loadavg())
            print(f"size {size} chunk {chunk} round {r}: {runs[-1]['stage_tok_s']:.1f} tok/s, {runs[-1]['tokens']} tokens, "
                  f"load {runs[-1]['load']}", file=sys.stderr)
        differing = sum(runs[0]["texts"][i] != run["texts"][i] for run in runs[1:] for i in run["texts"])
        stage = [run["stage_tok_s"] for run in runs]
        ceiling = [run["ceiling_tok_s"] for run in runs if run["ceiling_tok_s"]]
        ratio = [run["stage_tok_s"] / run["ceiling_tok_s"] for run in runs if run["ceiling_tok_s"]]
        prefill = [run["prefill_share"] for run in runs if run["prefill_share"] is not None]
        busy = [run["busy_rows"] for run in runs if run["busy_rows"] is not None]
        reused = [run["reused_tokens"] / (run["reused_tokens"] + run["prefill_tokens"])
                  for run in runs if run["reused_tokens"] is not None]
        calls = [run["prompt_calls"] for run in runs if run["prompt_calls"] is not None]
        rows.append(f"| {size} | {chunk} | {spread(stage)} | {spread(ceiling) if ceiling else '-'} | "
                    f"{spread(ratio, 2) if ratio else '-'} | {spread(prefill, 2) if prefill else '-'} | "
                    f"{spread(busy, 2) if busy else '-'} | {spread(reused, 2) if reused else '-'} | "
                    f"{spread(calls, 2) if calls else '-'} | {differing}/{len(items) * (len(runs) - 1)} |")
        results[f"{size}x{chunk}"] = [{k: v for k, v in run.items() if k != "texts"} for run in runs]
    print(f"\nitems: {len(items)} from {source}; steps {args.steps}; max_tokens {args.max_tokens}; "
          f"threads {args.threads}; n_gpu_layers {args.n_gpu_layers}; rounds {args.rounds}")
    print("| llm.batch_size | llm.prompt_chunk | stage tok/s | ceiling tok/s | ratio | prefill share | rows busy "
          "| prompt kept | prompt calls/item | differing from round 0 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
