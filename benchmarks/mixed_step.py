"""What a prompt token costs inside a decode step versus on its own.

Question (issue 18): the batched backend evaluates each new item's prompt on its own while the
other rows wait. Would feeding those prompt tokens through the same llama_decode as the rows'
generated tokens keep the rows busy for free? Only if a step with B decode rows plus C prompt
tokens costs about what B rows alone cost, as on a GPU, where a decode step is bound by reading
the weights. On a CPU that is already compute-bound at B rows, it costs about B rows plus C
tokens alone, and mixing buys nothing.

What runs: the embedded model, one context with a unified KV cache (so llama.cpp takes a mixed
batch as one ubatch), B sequences each holding a short prompt. Timed, median of --repeats:
  decode   B rows, one token each, logits for every row (the backend's padded step);
  prompt   C tokens of one more sequence, logits for the last only (an item's prompt alone);
  mixed    both in one llama_decode.
Reported: the three times and mixed / (decode + prompt): near 1 means a prompt token costs the
same either way; well below 1 means mixing pays.

Usage: PYTHONPATH=src .venv/bin/python benchmarks/mixed_step.py [--rows 8] [--prompt-tokens 32,128]
         [--threads 2] [--n-gpu-layers 0] [--repeats 9]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from synthempathy.generation.llm.llama_cpp_batched import decode_rows  # noqa: E402
from synthempathy.generation.models import resolve_model  # noqa: E402


class Context:
    """A bare llama.cpp context with room for rows + 1 sequences."""

    def __init__(self, rows: int, threads: int, gpu_layers: int):
        import llama_cpp

        llama_cpp.llama_backend_init()
        mp = llama_cpp.llama_model_default_params()
        mp.n_gpu_layers = gpu_layers
        self.model = llama_cpp.llama_model_load_from_file(str(resolve_model("embedded").path).encode(), mp)
        cp = llama_cpp.llama_context_default_params()
        cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max = 4096, 1024, 1024, rows + 1
        cp.n_threads = cp.n_threads_batch = threads
        cp.kv_unified = True
        self.ctx = llama_cpp.llama_init_from_model(self.model, cp)
        self.mem = llama_cpp.llama_get_memory(self.ctx)
        self.batch = llama_cpp.llama_batch_init(1024, 0, 1)
        self.rows = rows

    def decode(self, entries: list[tuple[int, int, int, bool]]) -> float:
        """Seconds for one llama_decode of (token, position, sequence, logits) entries."""
        import llama_cpp

        start = time.perf_counter()
        if decode_rows(self.ctx, self.batch, entries) != 0:
            raise RuntimeError("llama_decode failed")
        llama_cpp.llama_synchronize(self.ctx)
        return time.perf_counter() - start

    def reset(self, start: int) -> None:
        """Every row's sequence back to `start` prompt tokens; the prompt sequence emptied."""
        import llama_cpp

        for seq in range(self.rows):
            llama_cpp.llama_memory_seq_rm(self.mem, seq, start, -1)
        llama_cpp.llama_memory_seq_rm(self.mem, self.rows, -1, -1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--prompt-tokens", default="32,128")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-gpu-layers", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    c = Context(args.rows, args.threads, args.n_gpu_layers)
    token, start = 1000, 16
    for seq in range(args.rows):  # a short context per row, as after a prompt
        c.decode([(token + i, i, seq, i == start - 1) for i in range(start)])
    print("| rows | prompt tokens | decode ms | prompt ms | mixed ms | mixed / (decode + prompt) |")
    print("|---|---|---|---|---|---|")
    for n in (int(x) for x in args.prompt_tokens.split(",")):
        rows = [(token, start, seq, True) for seq in range(args.rows)]
        prompt = [(token + i, i, args.rows, i == n - 1) for i in range(n)]
        times: dict[str, list[float]] = {"decode": [], "prompt": [], "mixed": []}
        for _ in range(args.repeats):
            for name, entries in (("decode", rows), ("prompt", prompt), ("mixed", rows + prompt)):
                c.reset(start)
                times[name].append(c.decode(entries))
        d, p, m = (statistics.median(times[k]) * 1000 for k in ("decode", "prompt", "mixed"))
        print(f"| {args.rows} | {n} | {d:.1f} | {p:.1f} | {m:.1f} | {m / (d + p):.2f} |")


if __name__ == "__main__":
    main()
