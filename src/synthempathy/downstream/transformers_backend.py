"""A Hugging Face model (and optionally a peft adapter) through transformers' `generate`.

For the downstream pipeline's bases that llama.cpp cannot take with their adapter (a Hugging
Face folder such as Mistral-7B-v0.1, on a GPU in bf16), and to measure llama.cpp against
transformers on the same model. One item at a time; each call seeds torch's generator with the
call's seed, so an answer never depends on the calls before it. Same sampling settings as the
llama.cpp backends, not the same sampler code: the outputs of the two differ, and the identity says
which made them.
"""

from __future__ import annotations

import functools
from pathlib import Path

from synthempathy.core.errors import UserError
from synthempathy.core.params import SamplingParams
from synthempathy.core.records import BackendIdentity
from synthempathy.generation.llm.base import Backend, Completion
from synthempathy.generation.prompts import Prompt

REVISION = 1
"""Bump when a change here can alter an output (it is in every cache key)."""


class TransformersBackend(Backend):
    """`model_dir`: a Hugging Face folder; `adapter_dir`: a peft adapter trained on it, or None."""

    def __init__(self, model_dir: Path, name: str, sha256: str, device: str, adapter_dir: Path | None = None,
                 adapter_sha256: str | None = None):
        self.model_dir, self.name, self.sha256 = model_dir, name, sha256
        self.device, self.adapter_dir, self.adapter_sha256 = device, adapter_dir, adapter_sha256
        self._model = self._tokenizer = None
        self.calls = 0

    @functools.cached_property
    def identity(self) -> BackendIdentity:
        import torch
        import transformers

        return BackendIdentity(model=self.name, model_sha256=self.sha256, format_setting="completion",
                               implementation=f"transformers r{REVISION}, transformers {transformers.__version__}, "
                                              f"torch {torch.__version__}, {self.device} {self._dtype_name}",
                               adapter_sha256=self.adapter_sha256)

    @property
    def _dtype_name(self) -> str:
        return "bfloat16" if self.device == "cuda" else "float32"

    def _load(self):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=getattr(torch, self._dtype_name))
        if self.adapter_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, self.adapter_dir)
        self._model = model.to(self.device).eval()
        return self._model

    def complete(self, prompt: Prompt, sampling: SamplingParams, seed: int, grammar: str | None = None) -> Completion:
        import torch

        if grammar is not None:
            raise UserError("the transformers backend takes no GBNF grammar")
        model = self._model or self._load()
        tokens = self._tokenizer(prompt.text, return_tensors="pt").to(self.device)
        sample = sampling.temperature > 0
        torch.manual_seed(seed)
        with torch.no_grad():
            out = model.generate(
                **tokens, max_new_tokens=sampling.max_tokens, do_sample=sample,
                **(dict(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k or None,
                        min_p=sampling.min_p or None) if sample else {}),
                repetition_penalty=sampling.repeat_penalty, stop_strings=list(sampling.stop) or None,
                tokenizer=self._tokenizer, pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id)
        new = out[0, tokens["input_ids"].shape[1]:].tolist()
        self.calls += 1
        ended = bool(new) and new[-1] == self._tokenizer.eos_token_id
        text = self._tokenizer.decode(new, skip_special_tokens=True)
        cut = min((text.find(s) for s in sampling.stop if s in text), default=-1)
        finish = "stop" if ended or cut >= 0 or len(new) < sampling.max_tokens else "length"
        return Completion(text=text[:cut] if cut >= 0 else text, finish_reason=finish, completion_tokens=len(new),
                          prompt_format="completion")
