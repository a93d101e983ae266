"""The downstream tuned model's answers through llama.cpp against transformers' generate.

llama.cpp: the base GGUF with data/downstream/adapter/adapter.gguf, one item at a time
(llm.batch_size 1) and batched (8 rows); transformers: the converted Hugging Face base with the
peft adapter, one item at a time, fp32 on the CPU. Same prompts (data/downstream/prompts.jsonl),
same sampling settings and max_tokens, an empty request cache for each. Prints generated tokens per
second. Run after `dvc repro downstream/dvc.yaml`, from the project root:

    PYTHONPATH=src python benchmarks/downstream_generation.py --prompts 8 --max-tokens 128
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from synthempathy.core.hashing import file_sha256
from synthempathy.core.jsonl import read_records
from synthempathy.core.params import load_params
from synthempathy.core.paths import DOWNSTREAM_ADAPTER, DOWNSTREAM_BASE, DOWNSTREAM_PROMPTS
from synthempathy.core.records import HeldOutPrompt
from synthempathy.downstream.adapter import GGUF_FILE, PEFT_WEIGHTS
from synthempathy.downstream.answer import STAGE, llama_cpp_params
from synthempathy.downstream.base_model import resolve_base
from synthempathy.downstream.transformers_backend import TransformersBackend
from synthempathy.generation.driver import Item, Step
from synthempathy.generation.generating_stage import GenerationStage, generator_for


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    params = load_params()
    generate = params.downstream.generate.model_copy(update={"max_tokens": args.max_tokens})
    params = params.model_copy(update={"llm": params.llm.model_copy(update={"n_threads": args.threads})})
    source, adapter = resolve_base(params.downstream.base_model), Path(DOWNSTREAM_ADAPTER)
    prompts = read_records(DOWNSTREAM_PROMPTS, HeldOutPrompt)[:args.prompts]
    items = [Item(id=p.id, values={"explanation": p.explanation}) for p in prompts]

    def run(name: str, backend=None, llm=None) -> None:
        os.environ["SYNTHEMPATHY_CACHE_DIR"] = tempfile.mkdtemp()
        stage = GenerationStage(name=STAGE, variables={"explanation"}, steps=(Step("response"),),
                                build=lambda *a: None, section=generate, prompt=params.downstream.prompt,
                                llm=llm or params.llm, as_is=True)
        with generator_for(stage, params, backend) as generator:
            generator.run(items)
        stats = generator.stats
        print(f"| {name} | {len(items)} | {stats.model_tokens} | {stats.seconds:.1f} | "
              f"{stats.model_tokens / stats.seconds:.1f} |", flush=True)

    import torch

    torch.set_num_threads(args.threads)
    print("| engine | prompts | tokens | seconds | tok/s |\n|---|---|---|---|---|")
    for rows in (1, 8):
        llm = llama_cpp_params(params, adapter / GGUF_FILE)
        run(f"llama.cpp, batch_size {rows}", llm=llm.model_copy(update={"batch_size": rows}))
    run("transformers generate, fp32", TransformersBackend(Path(DOWNSTREAM_BASE), source.name, source.sha256, "cpu",
                                                           adapter, file_sha256(adapter / PEFT_WEIGHTS)))


if __name__ == "__main__":
    main()
