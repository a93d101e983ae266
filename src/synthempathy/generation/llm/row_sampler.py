"""One item's sampler in the batched backend, with the grammar checked lazily.

Why lazily: a GBNF sampler in llama-cpp-python's chain runs before top-k, so every token
tests all of Gemma's 262k vocabulary entries against the grammar; that made the judge
(JSON scores) the slowest stage per token by far (benchmarks/BATCH.md). llama.cpp's own
common sampler avoids it: sample from the normal chain, ask the grammar about that one
token, and only when it is rejected sample again with the grammar applied to the whole
vocabulary. Every token still satisfies the grammar; the distribution differs from
grammar-first only in how top-k/top-p cut off invalid tokens, which is why judge agreement
with human labels was re-measured after the change (benchmarks/CALIBRATION.md).
"""

from __future__ import annotations

import ctypes
import math

import numpy as np

from synthempathy.core.params import SamplingParams


def sampler_chain(llm, sampling: SamplingParams, seed: int):
    """One item's sampler chain, built by llama-cpp-python as create_completion builds it, less the
    grammar (penalties over the generated tokens, top-k, typical, top-p, min-p, temperature, seed)."""
    llm.set_seed(seed)  # _init_sampler seeds the chain's dist sampler from it
    return llm._init_sampler(top_k=sampling.top_k, top_p=sampling.top_p, min_p=sampling.min_p,
                             temp=sampling.temperature, repeat_penalty=sampling.repeat_penalty)


class RowSampler:
    """Samples one item's tokens from its row of a batched decode's logits."""

    def __init__(self, llm, sampling: SamplingParams, seed: int, grammar=None):
        """`grammar` is a parsed llama_cpp.LlamaGrammar or None."""
        import llama_cpp

        self._chain = sampler_chain(llm, sampling, seed)
        self._grammar = None
        self.resampled = 0
        """Tokens the grammar rejected, sampled again with it applied first."""
        if grammar is not None:
            self._grammar = llama_cpp.llama_sampler_init_grammar(
                llm._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8"))
            if not self._grammar:  # the backend parsed it once already; never sample unconstrained
                raise RuntimeError("llama.cpp could not build the grammar sampler")
            self._vocab = llm.n_vocab()
            self._data = (llama_cpp.llama_token_data * self._vocab)()
            self._view = np.ctypeslib.as_array(self._data)
            self._ids = np.arange(self._vocab, dtype=np.int32)

    def sample(self, ctx, row: int) -> int:
        """The next token from `row`'s logits, accepted into the sampler's state."""
        import llama_cpp

        if self._grammar is None:
            return llama_cpp.llama_sampler_sample(self._chain.sampler, ctx, row)
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, row), shape=(self._vocab,))
        token = self._apply(logits, grammar_first=False)
        if not self.allowed(token):
            token = self._apply(logits, grammar_first=True)
            self.resampled += 1
        llama_cpp.llama_sampler_accept(self._grammar, token)
        llama_cpp.llama_sampler_accept(self._chain.sampler, token)
        return token

    def allowed(self, token: int) -> bool:
        """Whether the grammar, in its current state, accepts `token` next."""
        import llama_cpp

        one = llama_cpp.llama_token_data(id=token, logit=1.0, p=0.0)
        candidates = llama_cpp.llama_token_data_array(data=ctypes.pointer(one), size=1, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(candidates))
        return one.logit != -math.inf

    def _apply(self, logits: np.ndarray, grammar_first: bool) -> int:
        """Run the chain (after the grammar when `grammar_first`) over every token; the one it selects."""
        import llama_cpp

        view = self._view
        view["id"], view["logit"], view["p"] = self._ids, logits, 0.0
        candidates = llama_cpp.llama_token_data_array(
            data=ctypes.cast(self._data, ctypes.POINTER(llama_cpp.llama_token_data)),
            size=self._vocab, selected=-1, sorted=False)
        if grammar_first:
            llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(candidates))
        llama_cpp.llama_sampler_apply(self._chain.sampler, ctypes.byref(candidates))
        if not 0 <= candidates.selected < candidates.size:
            raise RuntimeError(f"the sampler chain selected no token ({candidates.selected})")
        return candidates.data[candidates.selected].id

    def close(self) -> None:
        import llama_cpp

        self._chain.close()
        if self._grammar is not None:
            llama_cpp.llama_sampler_free(self._grammar)
            self._grammar = None
