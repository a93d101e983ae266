"""Generation speed: the in-process pipeline vs bare llama-cpp-python.

Three variants over the same N respond-stage prompts, each with its own model
load (load time reported separately, excluded from tokens/s):

  pipeline    synthempathy.generation.driver.Generator + LlamaCppBackend (static prefix
              evaluated once, KV cache rolled back to it before every item),
              fresh RequestCache in a temp dir so every call is a real call.
  bare        llama_cpp.Llama.create_completion(prompt_text) per item; llama-cpp-
              python reuses the longest common token prefix with the previous call.
  bare-reset  same, but llm.reset() before each call (no prefix reuse).
  batched     Generator + the default backend with llm.batch_size --batch-size
              (llm/llama_cpp_batched.py): that many items decode together, each
              step padded to --batch-size rows. Only wall time and tokens are
              measured (it does not go through Llama.eval/sample).

pipeline runs with llm.batch_size 1, the one-at-a-time path that bare mirrors.

Every call uses the same sampling as params.yaml's respond section, the same
per-item derived seed, max_tokens=--max-tokens and stop=[] (so calls decode up
to max_tokens; EOS can still end a call early, tokens are counted from usage).

Per call, Llama.eval and Llama.sample are wrapped on the instance: everything
evaluated before the first sample() of a call is prompt evaluation (tokens and
seconds); the rest of the call's wall time is decode (sampling + 1-token evals
+ detokenisation). decode tok/s = completion tokens / decode seconds.

pipeline and batched load the model as the pipeline does, under llm.cpu_repack
(--cpu-repack; benchmarks/CPU.md), and report a sha256 of their outputs so runs
with different settings can be checked for identical text.

Usage: .venv/bin/python benchmarks/generation_benchmark.py [--items 8] [--max-tokens 96] [--threads 2]
         [--batch-size 8] [--cpu-repack auto] [--variants pipeline,bare,bare-reset,batched]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPLANATIONS = ROOT / "data/explanations/explanations.jsonl"


# -- inputs ------------------------------------------------------------------
def synthetic_explanations(n: int) -> list[str]:
    rng = random.Random(1234)
    who = ["my manager", "my sister", "my landlord", "my teacher", "my best friend", "my doctor"]
    what = ["told me the project deadline moved up a week", "said we need to talk about my rent",
            "cancelled our plans again without explaining", "gave me results I did not expect",
            "stopped answering my messages", "announced there will be layoffs next month"]
    feel = ["I cannot sleep and keep going over it", "I feel like nothing I do is ever enough",
            "my chest tightens every time I think about it", "I have been snapping at everyone at home"]
    out = []
    for i in range(n):
        out.append(
            f"Yesterday {rng.choice(who)} {rng.choice(what)}, and I have not stopped thinking about it. "
            f"{rng.choice(feel).capitalize()}. I keep telling myself it will work out, but honestly "
            f"{rng.choice(feel)}, and I do not know who to talk to about it (case {i})."
        )
    return out


def load_items(n: int):
    from synthempathy.generation.driver import Item

    texts: list[tuple[str, str]] = []
    source = "synthetic"
    if EXPLANATIONS.is_file():
        with EXPLANATIONS.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    rec = json.loads(line)
                    texts.append((rec["id"], rec["explanation"]))
                if len(texts) >= n:
                    break
        source = str(EXPLANATIONS.relative_to(ROOT))
    if len(texts) < n:
        extra = synthetic_explanations(n - len(texts))
        texts += [(f"synthetic-{i:03d}", t) for i, t in enumerate(extra)]
        if source != "synthetic":
            source += f" + {len(extra)} synthetic"
    return [Item(id=i, values={"explanation": t, "guidance": ""}) for i, t in texts], source


# -- instrumentation ---------------------------------------------------------
class Probe:
    """Wraps llm.eval / llm.sample on one Llama instance; one record per call."""

    def __init__(self, llm):
        self.calls: list[dict] = []
        self._cur: dict | None = None
        orig_eval, orig_sample = llm.eval, llm.sample

        def eval_(tokens):
            t0 = time.perf_counter()
            r = orig_eval(tokens)
            dt = time.perf_counter() - t0
            c = self._cur
            if c is not None and not c["sampled"]:
                c["prompt_tokens"] += len(tokens)
                c["prompt_s"] += dt
            return r

        def sample_(*a, **k):
            if self._cur is not None:
                self._cur["sampled"] = True
            return orig_sample(*a, **k)

        llm.eval, llm.sample = eval_, sample_

    def begin(self):
        self._cur = {"prompt_tokens": 0, "prompt_s": 0.0, "sampled": False, "t0": time.perf_counter()}

    def end(self, completion_tokens: int):
        c = self._cur
        c["wall_s"] = time.perf_counter() - c.pop("t0")
        c["completion_tokens"] = completion_tokens
        c.pop("sampled")
        self.calls.append(c)
        self._cur = None


def summarise(name: str, load_s: float, wall_s: float, calls: list[dict]) -> dict:
    tokens = sum(c["completion_tokens"] for c in calls)
    prompt_s = sum(c["prompt_s"] for c in calls)
    decode_s = sum(c["wall_s"] - c["prompt_s"] for c in calls)
    later = calls[1:] or calls
    return {
        "variant": name,
        "load_s": load_s,
        "wall_s": wall_s,
        "completion_tokens": tokens,
        "agg_tok_s": tokens / wall_s if wall_s else 0.0,
        "decode_tok_s": tokens / decode_s if decode_s else 0.0,
        "prompt_s": prompt_s,
        "first_prompt_tokens": calls[0]["prompt_tokens"] if calls else 0,
        "prompt_tokens_per_item": sum(c["prompt_tokens"] for c in later) / len(later) if later else 0.0,
        "prompt_tok_s": sum(c["prompt_tokens"] for c in calls) / prompt_s if prompt_s else 0.0,
        "overhead_s": wall_s - sum(c["wall_s"] for c in calls),
    }


# -- variants ----------------------------------------------------------------
def outputs_digest(outcomes) -> str:
    """sha256 over every item's generated fields, in item order (rejected items count as None)."""
    text = json.dumps([o.fields for o in outcomes], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def run_pipeline(items, gen_params, llm_params, template, steps):
    from synthempathy.generation.cache import RequestCache
    from synthempathy.generation.driver import Generator
    from synthempathy.generation.llm.llama_cpp import LlamaCppBackend

    backend = LlamaCppBackend(llm_params)
    t0 = time.perf_counter()
    backend.llm  # load now, outside the timed run
    load_s = time.perf_counter() - t0
    probe = Probe(backend.llm)
    orig_complete = backend.complete

    def complete(prompt, sampling, seed, grammar=None):
        probe.begin()
        out = orig_complete(prompt, sampling, seed, grammar)
        probe.end(out.completion_tokens)
        return out

    backend.complete = complete
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SYNTHEMPATHY_CACHE_DIR"] = tmp
        cache = RequestCache(Path(tmp) / "requests.sqlite")
        gen = Generator("respond", template, gen_params, llm_params, backend, cache, steps)
        t0 = time.perf_counter()
        outcomes = gen.run(items)
        wall_s = time.perf_counter() - t0
    fmt = backend.prompt_format
    backend.close()
    assert gen.stats.model_calls == len(items), gen.stats.summary("respond")
    res = summarise("pipeline", load_s, wall_s, probe.calls)
    assert res["completion_tokens"] == gen.stats.model_tokens
    res["format"] = fmt
    res["rejected"] = sum(o.fields is None for o in outcomes)
    res["outputs_sha256"] = outputs_digest(outcomes)
    return res


def run_batched(items, gen_params, llm_params, template, steps):
    from synthempathy.generation.cache import RequestCache
    from synthempathy.generation.driver import Generator
    from synthempathy.generation.llm import make_backend

    backend = make_backend(llm_params)
    t0 = time.perf_counter()
    backend.llm
    load_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        cache = RequestCache(Path(tmp) / "requests.sqlite")
        gen = Generator("respond", template, gen_params, llm_params, backend, cache, steps)
        t0 = time.perf_counter()
        outcomes = gen.run(items)
        wall_s = time.perf_counter() - t0
        cache.close()
    backend.close()
    assert gen.stats.model_calls == len(items), gen.stats.summary("respond")
    tokens = gen.stats.model_tokens
    nan = float("nan")
    return {"variant": "batched", "load_s": load_s, "wall_s": wall_s,
            "completion_tokens": tokens, "agg_tok_s": tokens / wall_s, "decode_tok_s": nan, "prompt_s": nan,
            "first_prompt_tokens": nan, "prompt_tokens_per_item": nan, "prompt_tok_s": nan, "overhead_s": nan,
            "outputs_sha256": outputs_digest(outcomes)}


def run_bare(name, items, prompts, seeds, sampling, threads, reset_each):
    import llama_cpp

    from synthempathy.generation.llm.llama_cpp import sampling_kwargs
    from synthempathy.generation.models import resolve_model

    path = str(resolve_model("embedded").path)
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(model_path=path, n_ctx=2048, n_threads=threads, verbose=False)
    load_s = time.perf_counter() - t0
    probe = Probe(llm)
    t0 = time.perf_counter()
    for text, seed in zip(prompts, seeds):
        if reset_each:
            llm.reset()
        probe.begin()
        out = llm.create_completion(
            text,
            **sampling_kwargs(sampling),
            stop=[],
            seed=seed,
        )
        probe.end(out["usage"]["completion_tokens"])
    wall_s = time.perf_counter() - t0
    llm.close()
    return summarise(name, load_s, wall_s, probe.calls)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    from synthempathy.generation.llm.amx_workaround import SETTINGS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2025, help="llm.seed (per-item seeds derive from it)")
    ap.add_argument("--batch-size", type=int, default=8, help="llm.batch_size of the batched variant")
    ap.add_argument("--cpu-repack", choices=list(SETTINGS), default="auto",
                    help="llm.cpu_repack of the pipeline and batched variants")
    ap.add_argument("--variants", default="pipeline,bare,bare-reset,batched",
                    help="comma-separated, run in this order")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    os.chdir(ROOT)
    from synthempathy.core.params import LlamaCppParams, load_params, sampling_of
    from synthempathy.generation.driver import Step, derive_seed
    from synthempathy.generation.prompts import load_template

    params = load_params(ROOT / "params.yaml")
    gen_params = params.respond.model_copy(update={"max_tokens": args.max_tokens, "stop": []})
    cpu_repack = SETTINGS[args.cpu_repack]
    llm_params = LlamaCppParams(n_threads=args.threads, n_ctx=2048, seed=args.seed, max_attempts=1, batch_size=1,
                           cpu_repack=cpu_repack)
    template = load_template(gen_params.prompt, {"explanation", "guidance"})
    steps = [Step("response")]
    sampling = sampling_of(gen_params)
    items, source = load_items(args.items)
    prompts = [template.render(**it.values).text for it in items]
    seeds = [derive_seed(args.seed, "respond", it.id, 1) for it in items]

    load_start = loadavg()
    print(f"items {len(items)} from {source}; max_tokens {args.max_tokens}; threads {args.threads}; "
          f"loadavg at start {load_start}", file=sys.stderr)
    results = []
    for v in args.variants.split(","):
        v = v.strip()
        if v == "pipeline":
            r = run_pipeline(items, gen_params, llm_params, template, steps)
            if r["format"] != "completion":
                print(f"WARNING: pipeline used prompt_format {r['format']}; bare sends raw completion text",
                      file=sys.stderr)
        elif v == "batched":
            r = run_batched(items, gen_params, llm_params.model_copy(update={"batch_size": args.batch_size}),
                            template, steps)
        elif v in ("bare", "bare-reset"):
            r = run_bare(v, items, prompts, seeds, sampling, args.threads, v == "bare-reset")
        else:
            ap.error(f"unknown variant {v}")
        print(f"  {v}: {r['wall_s']:.1f}s, {r['completion_tokens']} tok, loadavg now {loadavg()}", file=sys.stderr)
        results.append(r)
    load_end = loadavg()

    by = {r["variant"]: r for r in results}
    print(f"\nitems={len(items)} max_tokens={args.max_tokens} threads={args.threads} batch_size={args.batch_size} "
          f"cpu_repack={args.cpu_repack} loadavg start {load_start} / end {load_end}\n")
    print("| variant | load s | wall s | completion tok | agg tok/s | decode tok/s | prompt s | "
          "prompt tok (1st item) | prompt tok/item (after 1st) | prompt eval tok/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['variant']} | {r['load_s']:.2f} | {r['wall_s']:.2f} | {r['completion_tokens']} | "
              f"{r['agg_tok_s']:.1f} | {r['decode_tok_s']:.1f} | {r['prompt_s']:.2f} | "
              f"{r['first_prompt_tokens']} | {r['prompt_tokens_per_item']:.1f} | {r['prompt_tok_s']:.0f} |")
    for r in results:
        if "outputs_sha256" in r:
            print(f"{r['variant']} outputs sha256: {r['outputs_sha256']}")
    if "pipeline" in by and "bare" in by:
        p, b = by["pipeline"], by["bare"]
        print(f"\npipeline/bare: aggregate {p['agg_tok_s'] / b['agg_tok_s']:.3f}, "
              f"decode-only {p['decode_tok_s'] / b['decode_tok_s']:.3f} (target >= 0.95); "
              f"pipeline time outside backend.complete {p['overhead_s']:.2f}s")
    if "batched" in by and "bare" in by:
        print(f"batched (llm.batch_size {args.batch_size})/bare aggregate: "
              f"{by['batched']['agg_tok_s'] / by['bare']['agg_tok_s']:.3f}")
    if "bare-reset" in by and "bare" in by:
        print(f"bare-reset/bare aggregate: {by['bare-reset']['agg_tok_s'] / by['bare']['agg_tok_s']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "loadavg_start": load_start,
                                               "loadavg_end": load_end, "results": results}, indent=2))


if __name__ == "__main__":
    main()
