"""Downstream 2, split: the pairs to train on and the prompts both models answer.

A share of the seed situations (downstream.held_out_share) is held out: their explanations that
pass the filter's checks on explanations become prompts, and none of their pairs is trained on.
With downstream.epitome_prompts, seeker posts of EPITOME's test split (--epitome-test) are
prompts too (research-only; the outputs are never pushed). Writes the corpus pairs to train on
(--train) and the prompts (--prompts).
"""

import sys

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.jsonl import read_records, write_records
from synthempathy.core.params import load_params
from synthempathy.core.records import Explanation, Pair
from synthempathy.downstream.split import epitome_prompts, split


@stage(reads=("corpus", "explanations", "epitome_test"), writes=("train", "prompts"))
def main(files: Files) -> None:
    everything = load_params()
    params = everything.downstream
    pairs = read_records(files.corpus, Pair)
    train, prompts = split(pairs, read_records(files.explanations, Explanation), params, everything.filter)
    real = epitome_prompts(params.epitome_prompts, params.seed, files.epitome_test)
    write_records(files.train, train)
    write_records(files.prompts, prompts + real)
    print(f"split: {len(train)} of {len(pairs)} corpus pairs to train on; {len(prompts)} held-out explanations"
          + (f" and {len(real)} EPITOME seeker posts" if real else "") + " as prompts", file=sys.stderr)


if __name__ == "__main__":
    main()
