"""Batched generation: N sequences per llama_decode vs one item at a time.

Why: llama.cpp can decode several sequences in one batch (one `llama_batch`
holding a token for each of N sequence ids). For a small model on a CPU that
may raise aggregate tokens/s, since each weight matrix is read once per step
for N rows instead of once per row. But the project requires byte-identical
outputs for the same params and seed, and a resumed run would group items
into batches differently from a fresh one, so a faster batched path is only
usable as the default if an item's output does not depend on its batch.
This script measures both (results and discussion: BATCH.md).

What runs, on the respond stage's real prompts (prompts/respond.txt filled with
the first --items explanations, via generation_benchmark.load_items):

  ref      LlamaCppBackend.complete (the current path: Llama.create_completion
           after rolling the KV cache back to the static prefix), one item at a
           time; its context gets --threads for prompt evaluation too.
  N=k      this script's low-level loop on a second llama_context (same weights,
           one KV stream per sequence unless --kv-unified): the static prefix is
           evaluated once into sequence 0; for each group of k items, sequences
           1..k are cleared and given seq 0's cells (llama_memory_seq_cp), each
           item's suffix is evaluated on its own (one llama_decode per item, then
           its first token is sampled), and then the k sequences decode
           together, one token per sequence per llama_decode, each with its own
           sampler chain and seed. N=1 is the same code with groups of one.
           With --fixed-rows B every decode step has exactly B rows: finished
           items stay in the batch and dummy sequences fill partial groups.

Sampler chain per sequence: the backend's sampler_chain, i.e. what
Llama.create_completion builds from the respond section of params.yaml
(penalties(last 64, repeat_penalty) -> top_k -> typical(1.0) -> top_p -> min_p
-> temp -> dist(seed)); seed =
derive_seed(llm.seed, "respond", item id, 1). A sequence stops at an
end-of-generation token or max_tokens; with --ignore-eos it decodes exactly
max_tokens. No stop strings.

Timing per configuration and round, over all items: prefill = clearing and
copying sequences + suffix evaluation + first-token sampling; decode = the
batched loop (split into llama_decode and sampling time). decode tok/s = tokens
sampled in the loop / decode seconds; end-to-end tok/s = all generated tokens /
(prefill + decode); per-seq tok/s = decode steps / decode seconds.

Shared machine: configurations are interleaved in every round (order reversed
on odd rounds); the CPU time other processes used during each measurement is
read from /proc/stat, and a measurement during which they kept more than
CONTENDED_CORES busy is taken again (--retries); --quiet-wait waits for a quiet
moment before each measurement. Items are shuffled differently each round so
each item meets different batch neighbours and slots.

Determinism: every output (token ids; ref: text) is compared with the same
item's N=1 output of round 0, across rounds of the same configuration, and
between every pair of configurations.

Usage: PYTHONPATH=src .venv/bin/python benchmarks/batch_benchmark.py
         [--rounds 3] [--max-tokens 128] [--sizes 1,2,4,8] [--items 8] [--threads 2]
         [--fixed-rows B] [--ignore-eos] [--kv-unified] [--joint-prefill]
         [--quiet-wait S] [--retries 2] [--no-ref] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))

import llama_cpp
from generation_benchmark import load_items, loadavg
from synthempathy.generation.llm.llama_cpp_batched import sampler_chain

CONTENDED_CORES = 0.25  # other processes busier than this during a measurement: --retries redoes it


# -- the batched runner -------------------------------------------------------
class BatchRunner:
    """A llama_context with one prefix sequence (0) and `n_slots` work sequences (1..n_slots)."""

    def __init__(self, llm, n_slots: int, n_ctx_seq: int, threads: int, n_batch: int,
                 kv_unified: bool, joint_prefill: bool, fixed_rows: int = 0):
        from synthempathy.generation.llm.llama_cpp import _quiet_stderr

        assert fixed_rows == 0 or fixed_rows >= n_slots
        n_slots = max(n_slots, fixed_rows)
        model = llm._model.model
        vocab = llama_cpp.llama_model_get_vocab(model)
        p = llama_cpp.llama_context_default_params()
        p.n_seq_max = n_slots + 1
        p.n_ctx = n_ctx_seq * p.n_seq_max
        p.n_batch = max(n_batch, n_slots)
        p.n_ubatch = max(n_batch, n_slots)
        p.n_threads = threads
        p.n_threads_batch = threads
        p.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED  # as Llama(flash_attn=False)
        p.kv_unified = kv_unified
        p.no_perf = True
        with _quiet_stderr():
            self.ctx = llama_cpp.llama_init_from_model(model, p)
        if not self.ctx:
            raise RuntimeError("llama_init_from_model failed")
        self.mem = llama_cpp.llama_get_memory(self.ctx)
        self.llm = llm
        self.vocab = vocab
        self.n_slots = n_slots
        self.n_batch = p.n_batch
        self.joint_prefill = joint_prefill
        self.fixed_rows = fixed_rows
        self.pad_token = max(llama_cpp.llama_vocab_bos(vocab), 0)
        cap = max(p.n_batch, n_slots)
        self.batch = llama_cpp.llama_batch_init(cap, 0, 1)
        self.prefix_len = 0

    def close(self) -> None:
        llama_cpp.llama_batch_free(self.batch)
        llama_cpp.llama_free(self.ctx)

    # batch helpers
    def _fill(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """entries: (token, pos, seq_id, wants_logits)."""
        b = self.batch
        for i, (tok, pos, seq, out) in enumerate(entries):
            b.token[i] = tok
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = out
        b.n_tokens = len(entries)

    def _decode(self) -> None:
        rc = llama_cpp.llama_decode(self.ctx, self.batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

    def set_prefix(self, tokens: list[int]) -> None:
        """Evaluate the static prefix into sequence 0, in n_batch chunks as Llama.eval does."""
        from synthempathy.generation.llm.llama_cpp import _quiet_stderr

        llama_cpp.llama_memory_clear(self.mem, True)
        with _quiet_stderr():
            for start in range(0, len(tokens), self.n_batch):
                chunk = tokens[start:start + self.n_batch]
                self._fill([(t, start + i, 0, i == len(chunk) - 1) for i, t in enumerate(chunk)])
                self._decode()
        self.prefix_len = len(tokens)

    def generate(self, suffixes: list[list[int]], seeds: list[int], sampling: dict,
                 max_tokens: int, ignore_eos: bool) -> tuple[list[list[int]], dict]:
        """Generate for len(suffixes) <= n_slots items together; returns tokens and timings."""
        n = len(suffixes)
        assert 0 < n <= self.n_slots
        t0 = time.perf_counter()
        chains = [sampler_chain(self.llm, sampling, seed) for seed in seeds]  # freed when closed
        samplers = [chain.sampler for chain in chains]
        slots = list(range(1, n + 1))
        pos = [0] * n
        for slot in slots:
            llama_cpp.llama_memory_seq_rm(self.mem, slot, -1, -1)
            llama_cpp.llama_memory_seq_cp(self.mem, 0, slot, -1, -1)
        # --fixed-rows B: dummy sequences fill every step up to B rows. They take the next
        # sequence ids: with one KV stream per sequence, the ids in a ubatch must be consecutive,
        # otherwise llama.cpp splits the step into several ubatches
        rows = self.fixed_rows or n
        dummies = list(range(n + 1, rows + 1))
        for slot in dummies:
            llama_cpp.llama_memory_seq_rm(self.mem, slot, -1, -1)
        dummy_pos = 0
        outs: list[list[int]] = [[] for _ in range(n)]
        if self.joint_prefill:
            entries, last_idx = [], []
            for k, suf in enumerate(suffixes):
                entries += [(t, self.prefix_len + i, slots[k], i == len(suf) - 1) for i, t in enumerate(suf)]
                last_idx.append(len(entries) - 1)
            assert len(entries) <= self.n_batch, "suffixes do not fit one batch; raise --n-batch"
            self._fill(entries)
            self._decode()
            for k in range(n):
                outs[k].append(llama_cpp.llama_sampler_sample(samplers[k], self.ctx, last_idx[k]))
                pos[k] = self.prefix_len + len(suffixes[k])
        else:
            for k, suf in enumerate(suffixes):
                assert len(suf) <= self.n_batch
                self._fill([(t, self.prefix_len + i, slots[k], i == len(suf) - 1) for i, t in enumerate(suf)])
                self._decode()
                outs[k].append(llama_cpp.llama_sampler_sample(samplers[k], self.ctx, -1))
                pos[k] = self.prefix_len + len(suf)
        active = [k for k in range(n) if not self._done(outs[k], max_tokens, ignore_eos)]
        t1 = time.perf_counter()
        decode_s = sample_s = 0.0
        steps = 0
        while active:
            if self.fixed_rows:
                # every item stays in the batch until the whole group is done (a finished one
                # re-feeds its last token), dummies fill the rest: the row count never changes
                fed = list(range(n))
                entries = [(outs[k][-1], pos[k], slots[k], True) for k in fed]
                entries += [(self.pad_token, dummy_pos, slot, True) for slot in dummies]
                dummy_pos += 1
            else:
                fed = active
                entries = [(outs[k][-1], pos[k], slots[k], True) for k in fed]
            self._fill(entries)
            ta = time.perf_counter()
            self._decode()
            tb = time.perf_counter()
            live = set(active)
            for i, k in enumerate(fed):
                if k in live:
                    outs[k].append(llama_cpp.llama_sampler_sample(samplers[k], self.ctx, i))
                pos[k] += 1
            decode_s += tb - ta
            sample_s += time.perf_counter() - tb
            steps += 1
            active = [k for k in active if not self._done(outs[k], max_tokens, ignore_eos)]
        t2 = time.perf_counter()
        for chain in chains:
            chain.close()
        return outs, {"prefill_s": t1 - t0, "loop_s": t2 - t1, "llama_decode_s": decode_s,
                      "sample_s": sample_s, "steps": steps,
                      "tokens": sum(map(len, outs)), "loop_tokens": sum(map(len, outs)) - n}

    def _done(self, out: list[int], max_tokens: int, ignore_eos: bool) -> bool:
        return len(out) >= max_tokens or (not ignore_eos and llama_cpp.llama_vocab_is_eog(self.vocab, out[-1]))


# -- helpers -----------------------------------------------------------------
class OtherCPU:
    """CPU time used by everything except this process, from /proc/stat (Linux)."""

    HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    @classmethod
    def _busy_s(cls) -> float:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...
        return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / cls.HZ

    @staticmethod
    def _own_s() -> float:
        t = os.times()
        return t.user + t.system

    def __init__(self):
        self.available = os.path.exists("/proc/stat")
        self.start()

    def start(self) -> None:
        if self.available:
            self._b0, self._o0, self._w0 = self._busy_s(), self._own_s(), time.perf_counter()

    def cores(self) -> float:
        """Average number of cores that other processes kept busy since start()."""
        if not self.available:
            return float("nan")
        wall = time.perf_counter() - self._w0
        return max(0.0, (self._busy_s() - self._b0) - (self._own_s() - self._o0)) / wall if wall > 0 else 0.0


def wait_for_quiet(limit_s: float, threshold: float = 0.25) -> tuple[float, float]:
    """Sleep (up to limit_s) until other processes use < threshold cores over a 2 s window.

    Returns (seconds waited, other cores in the last window)."""
    t0 = time.perf_counter()
    probe = OtherCPU()
    while True:
        probe.start()
        time.sleep(2.0)
        busy = probe.cores()
        waited = time.perf_counter() - t0
        if busy < threshold or waited >= limit_s:
            return waited, busy


def first_diff(a, b) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return (f"{info.get('Model name', '?').strip()}, {info.get('CPU(s)', '?').strip()} CPUs, "
            f"{info.get('Core(s) per socket', '?').strip()} cores/socket, "
            f"{info.get('Thread(s) per core', '?').strip()} thread(s)/core")


def fmt_rounds(values: list[float], digits: int = 1) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in values)


# -- main --------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--sizes", default="1,2,4,8", help="batch sizes N, comma-separated")
    ap.add_argument("--items", type=int, default=8, help="items per configuration and round "
                    "(a multiple of every N keeps all batches full)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-batch", type=int, default=512)
    ap.add_argument("--ctx-per-seq", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=2025, help="llm.seed (per-item seeds derive from it)")
    ap.add_argument("--ignore-eos", action="store_true", help="decode exactly --max-tokens per sequence")
    ap.add_argument("--kv-unified", action="store_true",
                    help="one KV buffer shared by all sequences (default: one stream per sequence)")
    ap.add_argument("--joint-prefill", action="store_true",
                    help="evaluate a group's suffixes in one llama_decode (default: one per item)")
    ap.add_argument("--fixed-rows", type=int, default=0, metavar="B",
                    help="decode exactly B rows in every step, B >= every N: finished items stay in "
                         "the batch, dummy sequences fill the rest (0 = off: only live items)")
    ap.add_argument("--quiet-wait", type=float, default=0.0, metavar="S",
                    help="before each measurement wait up to S seconds until other processes use "
                         "< 0.25 cores (for shared machines; 0 = don't wait)")
    ap.add_argument("--retries", type=int, default=2,
                    help=f"measure again (up to this many times) when other processes used more than "
                         f"{CONTENDED_CORES} cores during a measurement; the discarded tries are listed")
    ap.add_argument("--no-ref", action="store_true", help="skip the LlamaCppBackend reference")
    ap.add_argument("--json", help="also write raw results here")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]

    os.chdir(ROOT)
    from synthempathy.core.params import LLMParams, load_params, sampling_of
    from synthempathy.generation.generate import derive_seed
    from synthempathy.generation.llm.llama_cpp import LlamaCppBackend
    from synthempathy.generation.prompts import load_template

    params = load_params(ROOT / "params.yaml")
    gen = params.respond.model_copy(update={"max_tokens": args.max_tokens, "stop": []})
    sampling = sampling_of(gen)
    template = load_template(gen.prompt, {"explanation", "guidance"})
    items, source = load_items(args.items)
    prompts = [template.render(**it.values) for it in items]
    seeds = [derive_seed(args.seed, "respond", it.id, 1) for it in items]

    # reference backend: also the tokenizer and the weights the batch context shares
    ref = LlamaCppBackend(LLMParams(n_threads=args.threads, n_ctx=2048, n_batch=args.n_batch,
                                    seed=args.seed, max_attempts=1, batch_size=1))
    t0 = time.perf_counter()
    llm = ref.llm
    load_s = time.perf_counter() - t0
    if ref._format != "completion":
        sys.exit(f"prompt format resolved to {ref._format}; this script sends completion-format tokens")
    toks = [ref._tokens(p) for p in prompts]
    prefix = toks[0][0]
    assert all(t[0] == prefix for t in toks), "static prefix differs between items"
    suffixes = [t[1] for t in toks]
    runner = BatchRunner(llm, max(sizes), args.ctx_per_seq, args.threads, args.n_batch,
                         args.kv_unified, args.joint_prefill, args.fixed_rows)
    need = len(prefix) + max(map(len, suffixes)) + args.max_tokens
    assert need <= args.ctx_per_seq, f"{need} tokens per sequence > --ctx-per-seq {args.ctx_per_seq}"
    t0 = time.perf_counter()
    runner.set_prefix(prefix)
    prefix_s = time.perf_counter() - t0

    configs = (["ref"] if not args.no_ref else []) + [f"N={n}" for n in sizes]
    load_start = loadavg()
    print(f"{len(items)} items from {source}; prefix {len(prefix)} tok (eval {prefix_s:.2f}s), "
          f"suffix {min(map(len, suffixes))}-{max(map(len, suffixes))} tok; max_tokens {args.max_tokens}"
          f"{' (ignore EOS)' if args.ignore_eos else ''}; kv_unified {args.kv_unified}; "
          f"joint_prefill {args.joint_prefill}; fixed_rows {args.fixed_rows}; loadavg {load_start}", file=sys.stderr)

    rows: list[dict] = []
    discarded: list[dict] = []
    outputs: dict[tuple[str, int, int], list[int] | str] = {}  # (config, round, item) -> tokens (ref: text)
    neighbours: dict[tuple[str, int, int], tuple[int, ...]] = {}

    def measure(cfg: str, r: int, order: list[int]) -> dict:
        if cfg == "ref":
            toks_total = 0
            t0 = time.perf_counter()
            for i in order:
                out = ref.complete(prompts[i], sampling, seeds[i])
                outputs[(cfg, r, i)] = out.text
                toks_total += out.completion_tokens
            wall = time.perf_counter() - t0
            return {"config": cfg, "round": r, "tokens": toks_total, "wall_s": wall, "e2e_tok_s": toks_total / wall}
        n = int(cfg[2:])
        acc = {"prefill_s": 0.0, "loop_s": 0.0, "llama_decode_s": 0.0, "sample_s": 0.0,
               "steps": 0, "tokens": 0, "loop_tokens": 0}
        t0 = time.perf_counter()
        for g in range(0, len(order), n):
            group = order[g:g + n]
            outs, tm = runner.generate([suffixes[i] for i in group], [seeds[i] for i in group],
                                       sampling, args.max_tokens, args.ignore_eos)
            for k, i in enumerate(group):
                outputs[(cfg, r, i)] = outs[k]
                neighbours[(cfg, r, i)] = tuple(group)
            for key in acc:
                acc[key] += tm[key]
        wall = time.perf_counter() - t0
        return {"config": cfg, "round": r, **acc, "wall_s": wall,
                "decode_tok_s": acc["loop_tokens"] / acc["loop_s"],
                "e2e_tok_s": acc["tokens"] / (acc["prefill_s"] + acc["loop_s"]),
                "step_ms": 1000 * acc["loop_s"] / acc["steps"],
                "per_seq_tok_s": acc["steps"] / acc["loop_s"]}

    for r in range(args.rounds):
        order = list(range(len(items)))
        if r:
            random.Random(r).shuffle(order)
        cfg_order = configs if r % 2 == 0 else configs[::-1]
        for cfg in cfg_order:
            for attempt in range(args.retries + 1):
                waited = wait_for_quiet(args.quiet_wait)[0] if args.quiet_wait > 0 else 0.0
                la = os.getloadavg()[0]
                others = OtherCPU()
                c0 = time.process_time()
                row = measure(cfg, r, order)
                row.update(load1=la, others_cores=others.cores(), waited_s=waited, attempt=attempt,
                           cpu_s=time.process_time() - c0)
                row["cpu_ms_per_tok"] = 1000 * row["cpu_s"] / row["tokens"]
                contended = row["others_cores"] > CONTENDED_CORES
                print(f"  round {r} {cfg:>5}: {row['tokens']} tok, {row['wall_s']:.1f}s, "
                      f"e2e {row['e2e_tok_s']:.1f} tok/s"
                      + (f", decode {row['decode_tok_s']:.1f} tok/s, step {row['step_ms']:.1f} ms"
                         if cfg != "ref" else "")
                      + f"; CPU {row['cpu_ms_per_tok']:.1f} ms/tok; load1 {la:.2f}; "
                      f"others {row['others_cores']:.2f} cores; waited {waited:.0f}s"
                      + ("; CONTENDED, measuring again" if contended and attempt < args.retries else ""),
                      file=sys.stderr)
                if not contended or attempt == args.retries:
                    rows.append(row)
                    break
                discarded.append(row)
    load_end = loadavg()

    # -- determinism -----------------------------------------------------------
    # every output as text too, so that ref (text only) compares with the token outputs
    texts = {k: (o if k[0] == "ref" else llm_detok(llm, o)) for k, o in outputs.items()}
    n_items = len(items)
    base_cfg = f"N={min(sizes)}"  # the baseline: N=1 with the default --sizes
    base = {i: outputs[(base_cfg, 0, i)] for i in range(n_items)}
    det = {}
    for cfg in configs:
        d = {"compared": args.rounds * n_items, "differ": 0, "diffs": [],
             # items whose output is the same in every round (other neighbours, slots and order)
             "same_every_round": sum(len({texts[(cfg, r, i)] for r in range(args.rounds)}) == 1
                                     for i in range(n_items))}
        for r in range(args.rounds):
            for i in range(n_items):
                if cfg == "ref":
                    at = first_diff(texts[(cfg, r, i)], texts[(base_cfg, 0, i)])
                    if at is not None:
                        d["diffs"].append({"round": r, "item": i, "char": at})
                else:
                    at = first_diff(outputs[(cfg, r, i)], base[i])
                    if at is not None:
                        d["diffs"].append({"round": r, "item": i, "token": at,
                                           "batch": list(neighbours[(cfg, r, i)])})
        d["differ"] = len(d["diffs"])
        det[cfg] = d
    # round 0, every pair of configurations: items with identical text
    pairs = {(a, b): sum(texts[(a, 0, i)] == texts[(b, 0, i)] for i in range(n_items))
             for a in configs for b in configs}

    if args.json:
        Path(args.json).write_text(json.dumps({
            "args": vars(args), "machine": cpu_model(), "llama_cpp": llama_cpp.__version__,
            "loadavg_start": load_start, "loadavg_end": load_end, "prefix_tokens": len(prefix),
            "rows": rows, "discarded": discarded, "determinism": det,
            "outputs": {f"{c}|{r}|{i}": o for (c, r, i), o in outputs.items()},
        }, indent=1))

    # -- report ----------------------------------------------------------------
    def series(cfg, key):
        return [row[key] for row in rows if row["config"] == cfg]

    print(f"\nmachine: {cpu_model()}; llama_cpp {llama_cpp.__version__}; model {Path(ref.model.path).name}; "
          f"load {load_s:.2f}s")
    print(f"items {len(items)} ({source}); rounds {args.rounds}; max_tokens {args.max_tokens}"
          f"{' ignore-EOS' if args.ignore_eos else ' (stop at EOS)'}; threads {args.threads}; "
          f"kv_unified {args.kv_unified}; joint_prefill {args.joint_prefill}; fixed_rows {args.fixed_rows}; "
          f"prefix {len(prefix)} tok; loadavg start {load_start} / end {load_end}\n")
    n1 = statistics.median(series(base_cfg, "decode_tok_s"))
    n1e = statistics.median(series(base_cfg, "e2e_tok_s"))
    print(f"| config | tokens/round | decode tok/s (median) | decode tok/s per round | speedup vs {base_cfg} | "
          "end-to-end tok/s (median) | e2e per round | e2e speedup | per-seq tok/s | step ms | "
          f"llama_decode / sampling s (median) | outputs differing from {base_cfg} (round 0) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for cfg in configs:
        e2e = series(cfg, "e2e_tok_s")
        tok = statistics.median(series(cfg, "tokens"))
        d = det.get(cfg)
        dtxt = f"{d['differ']}/{d['compared']}" if d else "-"
        if cfg == "ref":
            print(f"| ref (create_completion) | {tok:.0f} | - | - | - | {statistics.median(e2e):.1f} | "
                  f"{fmt_rounds(e2e)} | {statistics.median(e2e) / n1e:.2f} | - | - | - | {dtxt} (text) |")
            continue
        dec = series(cfg, "decode_tok_s")
        print(f"| {cfg} | {tok:.0f} | {statistics.median(dec):.1f} | {fmt_rounds(dec)} | "
              f"{statistics.median(dec) / n1:.2f} | {statistics.median(e2e):.1f} | {fmt_rounds(e2e)} | "
              f"{statistics.median(e2e) / n1e:.2f} | {statistics.median(series(cfg, 'per_seq_tok_s')):.1f} | "
              f"{statistics.median(series(cfg, 'step_ms')):.1f} | "
              f"{statistics.median(series(cfg, 'llama_decode_s')):.2f} / "
              f"{statistics.median(series(cfg, 'sample_s')):.2f} | {dtxt} |")
    print("\nload1 at the start of each measurement: "
          + "; ".join(f"{cfg} " + fmt_rounds(series(cfg, "load1"), 2) for cfg in configs))
    print("cores used by other processes during each measurement (/proc/stat): "
          + "; ".join(f"{cfg} " + fmt_rounds(series(cfg, "others_cores"), 2) for cfg in configs))
    print("CPU ms per generated token (this process, all threads; median): "
          + "; ".join(f"{cfg} {statistics.median(series(cfg, 'cpu_ms_per_tok')):.1f}" for cfg in configs))
    if discarded:
        print("measurements discarded as contended (other processes > "
              f"{CONTENDED_CORES} cores) and taken again: "
              + "; ".join(f"round {x['round']} {x['config']} ({x['others_cores']:.2f} cores, "
                          f"{x['e2e_tok_s']:.1f} tok/s)" for x in discarded))
    print(f"\nDeterminism ({n_items} items x {args.rounds} rounds; rounds shuffle the items, so each item "
          "has other neighbours and another slot):")
    for cfg in configs:
        d = det[cfg]
        line = f"  {cfg}: same output in every round for {d['same_every_round']}/{n_items} items"
        line += f"; differs from {base_cfg} (round 0) in {d['differ']}/{d['compared']} outputs"
        by_item: dict[int, set] = {}
        for x in d["diffs"]:
            by_item.setdefault(x["item"], set()).add(x.get("token", x.get("char")))
        if by_item:
            unit = "char" if cfg == "ref" else "token"
            line += f"; first differing {unit} per item (all rounds): " + ", ".join(
                f"{i}: {'/'.join(map(str, sorted(v)))}" for i, v in sorted(by_item.items()))
        print(line)
    print("\nItems with identical text, round 0, for each pair of configurations:\n")
    print("| | " + " | ".join(configs) + " |")
    print("|---" * (len(configs) + 1) + "|")
    for a in configs:
        print(f"| {a} | " + " | ".join(f"{pairs[(a, b)]}/{n_items}" for b in configs) + " |")
    runner.close()
    ref.close()  # frees the model: only after the last detokenize


def llm_detok(llm, tokens: list[int]) -> str:
    """Text of our tokens the way create_completion reports it (EOG token dropped)."""
    if tokens and llama_cpp.llama_vocab_is_eog(llama_cpp.llama_model_get_vocab(llm._model.model), tokens[-1]):
        tokens = tokens[:-1]
    return llm.detokenize(tokens).decode("utf-8", errors="ignore")


if __name__ == "__main__":
    main()
