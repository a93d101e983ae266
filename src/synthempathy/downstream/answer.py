"""Base and tuned model answer the held-out prompts with the same seeded decoding.

Both go through the corpus pipeline's generation driver (request cache, progress, one seed per
item derived from downstream.seed and the prompt id alone, so the two models draw the same seeds).
A GGUF base runs in llama.cpp, the tuned model as the same GGUF plus adapter.gguf, with llm's
settings (threads, batch size, GPU layers); a Hugging Face base runs in transformers with the
peft adapter. Every first answer is kept, even cut off at max_tokens or empty: dropping the
failures would measure only the answers that went well.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from synthempathy.core.params import LlamaCppParams, Params, SharedLLMParams
from synthempathy.core.records import HeldOutPrompt, ModelAnswer
from synthempathy.downstream.adapter import GGUF_FILE, PEFT_WEIGHTS
from synthempathy.downstream.base_model import BaseSource
from synthempathy.generation.driver import Item, Step
from synthempathy.generation.llm import Backend
from synthempathy.generation.generating_stage import GenerationStage, build_records, generator_for

Model = Literal["base", "tuned"]
STAGE = "downstream"
"""The stage name in every seed's derivation: the same for both models, so both draw the same seeds."""
LLAMA_CPP_KEYS = ("n_ctx", "n_threads", "n_batch", "n_gpu_layers", "cpu_repack", "batch_size", "prompt_chunk")
"""llm's settings that carry over to the downstream models in llama.cpp."""


def llama_cpp_params(params: Params, adapter: Path | None) -> LlamaCppParams:
    """The llm settings for the base GGUF (with the adapter for the tuned model), validated."""
    carried = params.llm.model_dump(include=set(LLAMA_CPP_KEYS))
    return LlamaCppParams.model_validate({**carried, "backend": "llama_cpp", "model": params.downstream.base_model,
                                          "lora_adapter": str(adapter) if adapter else None,
                                          "prompt_format": "completion", "seed": params.downstream.seed,
                                          "max_attempts": 1})


def backend_for(model: Model, params: Params, source: BaseSource, base_dir: Path, adapter_dir: Path,
                device: str) -> tuple[Backend | None, SharedLLMParams]:
    """(a backend the caller built, or None for make_backend to build one from the llm params; those params)."""
    adapter = adapter_dir if model == "tuned" else None
    if source.kind == "gguf":
        return None, llama_cpp_params(params, adapter / GGUF_FILE if adapter else None)
    from synthempathy.core.hashing import file_sha256
    from synthempathy.downstream.transformers_backend import TransformersBackend

    backend = TransformersBackend(base_dir, source.name, source.sha256, device, adapter_dir=adapter,
                                  adapter_sha256=file_sha256(adapter / PEFT_WEIGHTS) if adapter else None)
    return backend, SharedLLMParams(seed=params.downstream.seed, max_attempts=1)


def answer(prompts: Sequence[HeldOutPrompt], params: Params, source: BaseSource, base_dir: Path,
           adapter_dir: Path, device: str) -> list[ModelAnswer]:
    """Every prompt answered by the base, then by the tuned model."""
    inputs = [(p, Item(id=p.id, values={"explanation": p.explanation})) for p in prompts]
    answers: list[ModelAnswer] = []
    for model in ("base", "tuned"):
        backend, llm = backend_for(model, params, source, base_dir, adapter_dir, device)

        def build(record: HeldOutPrompt, item: Item, fields: dict[str, str], provenance: dict,
                  model: Model = model) -> ModelAnswer:
            return ModelAnswer(**record.model_dump(), model=model, response=fields["response"],
                               provenance=provenance[STAGE])

        stage = GenerationStage(name=STAGE, variables={"explanation"}, steps=(Step("response"),), build=build,
                                section=params.downstream.generate, prompt=params.downstream.prompt, llm=llm,
                                as_is=True)
        with generator_for(stage, params, backend) as generator:
            outcomes = generator.run([item for _, item in inputs])
        kept, _ = build_records(stage, inputs, outcomes)
        answers += kept
        print(generator.stats.summary(f"generate ({model})"), file=sys.stderr)
    return answers
