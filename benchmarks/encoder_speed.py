"""How long the encoder judge takes to score the paper's 105,578 pairs.

Scores --pairs corpus-like pairs (explanations and responses of the hand-labelled synthetic set,
responses rebuilt from sentences drawn from all of them so the texts differ but keep the corpus's
length of 100-150 words) with a trained encoder judge file, times it, and extrapolates to
--target pairs. --bf16 scores under torch's CPU bfloat16 autocast (native on CPUs with AVX512-BF16
or AMX, emulated and slow elsewhere) and reports how many levels differ from float32.

Usage: PYTHONPATH=src python benchmarks/encoder_speed.py [--judge data/calibration/encoder.safetensors]
         [--pairs 600] [--threads 2] [--bf16]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from synthempathy.core.paths import ENCODER_MODEL, SYNTHETIC_LABELS
from synthempathy.epitome import encoder
from synthempathy.epitome.data import read_synthetic
from synthempathy.epitome.scores import MECHANISMS
from synthempathy.epitome.sentences import split_sentences

ROOT = Path(__file__).resolve().parent.parent


def corpus_like(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """`n` (explanation, response) pairs: responses of 100-150 words from sentences of the synthetic set."""
    examples = read_synthetic(ROOT / SYNTHETIC_LABELS)
    sentences = [s for e in examples for s in split_sentences(e.response_post)]
    rng = random.Random(seed)
    seekers, responses = [], []
    for i in range(n):
        target, words = rng.randint(100, 150), []
        while len(words) < target:
            words += rng.choice(sentences).split()
        seekers.append(examples[i % len(examples)].seeker_post)
        responses.append(" ".join(words))
    return seekers, responses


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--judge", default=str(ROOT / ENCODER_MODEL))
    ap.add_argument("--pairs", type=int, default=600)
    ap.add_argument("--target", type=int, default=105_578)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--bf16", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    judge = encoder.load(args.judge)
    if args.threads:
        torch.set_num_threads(args.threads)
    seekers, responses = corpus_like(args.pairs)
    sentences = sum(len(split_sentences(r)) for r in responses)
    runs = {"float32": None}
    if args.bf16:
        runs["bfloat16"] = torch.bfloat16
    levels = {}
    for name, dtype in runs.items():
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            levels[name] = encoder.predict(judge, seekers, responses)
        seconds = time.perf_counter() - start
        rate = args.pairs / seconds
        print(f"{name}: {args.pairs} pairs ({sentences} sentences) in {seconds:.1f} s on {torch.get_num_threads()} "
              f"threads: {rate:.1f} pairs/s, {args.target:,} pairs in {args.target / rate / 60:.1f} min")
    if args.bf16:
        differ = sum(a != b for m in MECHANISMS for a, b in zip(levels["float32"][m], levels["bfloat16"][m]))
        print(f"levels that differ between float32 and bfloat16: {differ} of {3 * args.pairs}")


if __name__ == "__main__":
    main()
