"""Downstream 1, base: the base model as a Hugging Face folder that transformers trains on.

downstream.base_model names it: `embedded` or a local GGUF is converted once (tokenizer and
de-quantized fp32 weights: over a minute for 270M on 2 cores, seconds to load afterwards); a
Hugging Face folder is used where it lies. Writes data/downstream/base/ with base.json, which
names the source and its sha256 (never its absolute path).
"""

import sys
import time
from pathlib import Path

from synthempathy.core.entry_point import Files, stage
from synthempathy.core.params import load_params
from synthempathy.downstream.base_model import prepare, resolve_base


@stage(writes=("out",))
def main(files: Files) -> None:
    source = resolve_base(load_params().downstream.base_model)
    start = time.perf_counter()
    prepare(source, Path(files.out))
    done = "converted to a Hugging Face folder" if source.kind == "gguf" else "a Hugging Face folder, used in place"
    print(f"base: {source.name} ({done}) in {time.perf_counter() - start:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
