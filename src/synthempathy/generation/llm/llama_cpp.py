"""In-process llama.cpp backend (llama-cpp-python), CPU or GPU offload.

Why the prefix handling below: llama-cpp-python reuses the longest common
token prefix with the previous call. That is fast, but which tokens get
re-evaluated then depends on the previous item, and on CPU a different
evaluation split can flip a sampled token, so outputs would depend on
generation order (measured: 1 of 4 items differed). We therefore always
evaluate the template's static prefix on its own, and before every call roll
the KV cache back to exactly that prefix. Every item then sees the same
computation whatever ran before it, and the shared instructions and few-shot
examples are still evaluated only once per process.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import os
import sys
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from synthempathy.core.errors import UserError
from synthempathy.core.params import LlamaCppParams, SamplingParams
from synthempathy.core.records import BackendIdentity
from synthempathy.generation.llm import amx_workaround
from synthempathy.generation import chat, hygiene
from synthempathy.generation.choice import continuation_logprobs
from synthempathy.generation.llm.base import Backend, Completion, Scores
from synthempathy.generation.models import ModelFile, resolve_adapter, resolve_model
from synthempathy.generation.prompts import Prompt

CHAT_TEMPLATE_KEY = "tokenizer.chat_template"

REVISION = 1
"""Bump when a change in this module can alter any output (tokenising, prefix handling,
sampling keywords): it is part of every request-cache key, so old completions are then
regenerated instead of served."""


def llama_cpp_version() -> str:
    """The installed llama-cpp-python, whose kernels and sampler chain make our outputs."""
    return importlib.metadata.version("llama-cpp-python")


def format_chat(template: str, bos_token: str, eos_token: str, prompt: Prompt) -> Prompt:
    """Wrap `prompt` as one user turn with the model's chat template.

    The static prefix stays a prefix of the formatted text whenever the
    template passes the user's text through unchanged (every common template
    does), so prefix reuse keeps working in chat mode. The prompt's cuts move
    with it; a cut at the prompt's own end (a later step extends it) thereby
    sets the closing turn markers apart as the last piece, since the next step
    puts its text before them.
    """
    formatted = chat.apply_template(template, bos_token, eos_token, [{"role": "user", "content": prompt.text}])
    at = formatted.find(prompt.text)
    if at < 0:
        return Prompt(prefix="", suffix=formatted)
    cut = at + len(prompt.prefix) if prompt.prefix else 0
    start = at + len(prompt.prefix) - cut  # where the prompt's own suffix begins in the formatted one
    return Prompt(prefix=formatted[:cut], suffix=formatted[cut:], cuts=tuple(start + c for c in prompt.cuts))


def last_logits(ctx, n_vocab: int):
    """A copy of the logits of the last row that asked for them in llama.cpp context `ctx` (a raw
    llama_context pointer); llama-cpp-python keeps none itself unless logits_all is on."""
    import llama_cpp
    import numpy as np

    return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,)).copy()


def sampling_kwargs(sampling: SamplingParams) -> dict[str, Any]:
    """Our sampling params as llama-cpp-python's create_completion keywords (stop excluded)."""
    return sampling.model_dump(exclude={"stop"})


@contextlib.contextmanager
def _quiet_stderr():
    """llama.cpp prints load diagnostics straight to fd 2; keep them off the progress bar."""
    if os.environ.get("SYNTHEMPATHY_LLAMA_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()  # llama-cpp-python's log callback writes through sys.stderr
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class LlamaCppBackend(Backend):
    name, revision = "llama_cpp", REVISION
    batch_rows: int | None = None
    """Rows per decode step when outputs depend on it (the batched subclass)."""

    @property
    def own_context_tokens(self) -> int:
        """KV cache size of the Llama object's own context, the one create_completion uses."""
        return self.params.n_ctx

    def __init__(self, params: LlamaCppParams):
        self.params = params
        self.model: ModelFile = resolve_model(params.model)
        self.adapter: ModelFile | None = resolve_adapter(params.lora_adapter) if params.lora_adapter else None
        self._llm = None
        self._prefix_tokens: list[int] = []
        self._grammars: dict[str, Any] = {}
        self.calls = 0

    # -- loading -----------------------------------------------------------
    def _load(self):
        from llama_cpp import Llama

        p = self.params
        if not self.repack.enabled and p.cpu_repack == "auto":
            tqdm.write(f"llm: {self.repack.reason}", file=sys.stderr)  # above the progress bar
        try:
            with _quiet_stderr(), amx_workaround.load_context(self.repack):
                self._llm = Llama(
                    model_path=str(self.model.path),
                    n_ctx=self.own_context_tokens,
                    n_batch=p.n_batch,
                    n_threads=p.n_threads,
                    n_threads_batch=p.n_threads,
                    n_gpu_layers=p.n_gpu_layers,
                    seed=p.seed,
                    lora_path=str(self.adapter.path) if self.adapter else None,
                    verbose=False,
                )
        except (ValueError, RuntimeError) as exc:
            what = f"{self.model.name} with the adapter {self.adapter.name}" if self.adapter else self.model.name
            raise UserError(f"params.yaml: llm.model: llama.cpp could not load {what} ({exc})") from None
        return self._llm

    @functools.cached_property
    def chat_tokens(self) -> tuple[str | None, str, str]:
        """(the GGUF's chat template or None, BOS text, EOS text), read without loading the weights,
        so the format and every prompt are known before a cache miss loads the model."""
        from llama_cpp import Llama

        with _quiet_stderr():
            vocab = self._llm or Llama(model_path=str(self.model.path), vocab_only=True, verbose=False)
        try:
            def text(token: int) -> str:
                return vocab._model.token_get_text(token) if token != -1 else ""

            return vocab.metadata.get(CHAT_TEMPLATE_KEY), text(vocab.token_bos()), text(vocab.token_eos())
        finally:
            if vocab is not self._llm:
                vocab.close()

    @functools.cached_property
    def prompt_format(self) -> str:
        p = self.params
        has_template = self.chat_tokens[0] is not None
        if p.prompt_format == "chat" and not has_template:
            raise UserError(
                f"params.yaml: llm.prompt_format is 'chat' but {self.model.name} has no chat template "
                "(base models need 'completion' or 'auto')"
            )
        return "chat" if p.prompt_format == "chat" or (p.prompt_format == "auto" and has_template) else "completion"

    @functools.cached_property
    def chat_markers(self) -> tuple[str, ...]:
        jinja, bos, eos = self.chat_tokens
        return hygiene.chat_markers(jinja, bos, eos)

    def render_chat(self, messages: list[dict[str, str]], answer: str, item: int | None = None) -> Prompt:
        jinja, bos, eos = self.chat_tokens
        return chat.render(jinja, bos, eos, messages, answer, item)

    @functools.cached_property
    def repack(self) -> amx_workaround.RepackDecision:
        """llm.cpu_repack resolved for this machine (needed before loading, for cache keys)."""
        return amx_workaround.decide_here(self.params.cpu_repack)

    @functools.cached_property
    def identity(self) -> BackendIdentity:
        import llama_cpp  # loads the shared library, not the model

        p = self.params
        return BackendIdentity(
            model=self.model.name,
            model_sha256=self.model.sha256,
            format_setting=p.prompt_format,
            batch_rows=self.batch_rows,
            cpu_repack=self.repack.enabled,
            gpu_layers=p.n_gpu_layers if llama_cpp.llama_supports_gpu_offload() else 0,
            implementation=f"{self._implementation()}, llama-cpp-python {llama_cpp_version()}",
            adapter_sha256=self.adapter.sha256 if self.adapter else None,
        )

    def _implementation(self) -> str:
        """Our decoding code in the identity: name, revision and any setting that changes outputs."""
        return f"{self.name} r{self.revision}"

    @property
    def llm(self):
        return self._llm if self._llm is not None else self._load()

    # -- generation --------------------------------------------------------
    def _as_sent(self, prompt: Prompt) -> tuple[Prompt, list[str]]:
        """The prompt in the resolved format, plus extra stop strings it needs. A completion prompt
        for a chat model (a stage with no chat template) goes in as one user turn."""
        if self.prompt_format == "completion":
            return prompt, []
        jinja, bos, eos = self.chat_tokens
        sent = prompt if prompt.chat else format_chat(jinja, bos, eos, prompt)
        return sent, [eos] if eos else []

    def _tokens(self, prompt: Prompt) -> tuple[list[int], list[list[int]]]:
        """(static prefix tokens, the rest's tokens as pieces): here one piece, the whole suffix."""
        llm = self.llm
        text = prompt.text
        bos_text = llm._model.token_get_text(llm.token_bos()) if llm.token_bos() != -1 else ""
        add_bos = not (bos_text and text.startswith(bos_text))
        prefix = llm.tokenize(prompt.prefix.encode("utf-8"), add_bos=add_bos, special=True) if prompt.prefix else (
            [llm.token_bos()] if add_bos and llm.token_bos() != -1 else []
        )
        pieces = [llm.tokenize(piece.encode("utf-8"), add_bos=False, special=True) for piece in self._pieces(prompt)]
        return prefix, [piece for piece in pieces if piece]

    def _pieces(self, prompt: Prompt) -> list[str]:
        return [prompt.suffix]

    def _restore_prefix(self, prefix: list[int]) -> None:
        """Leave the KV cache holding exactly `prefix`, evaluated on its own."""
        llm = self.llm
        n = len(prefix)
        if prefix and self._prefix_tokens == prefix and llm.n_tokens >= n:
            llm.n_tokens = n
            return
        llm.reset()
        if prefix:
            with _quiet_stderr():  # the first decode allocates buffers and logs about it
                llm.eval(prefix)
        self._prefix_tokens = list(prefix)

    def _grammar(self, text: str | None):
        """The parsed grammar, checked once: llama-cpp-python would pass a grammar llama.cpp
        cannot parse on as a null sampler, and the process would crash at the first token."""
        if text is None:
            return None
        if text not in self._grammars:
            import llama_cpp
            from llama_cpp import LlamaGrammar

            with _quiet_stderr():
                probe = llama_cpp.llama_sampler_init_grammar(self.llm._model.vocab, text.encode("utf-8"), b"root")
            if not probe:
                first = text.strip().splitlines()[0][:80]
                raise UserError(f"llama.cpp cannot parse the GBNF grammar starting {first!r} "
                                "(run with SYNTHEMPATHY_LLAMA_VERBOSE=1 to see why)")
            llama_cpp.llama_sampler_free(probe)
            self._grammars[text] = LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]

    def _prepare(self, prompt: Prompt, sampling: SamplingParams) -> tuple[list[int], list[list[int]], list[str]]:
        """The request as (static prefix tokens, the rest in pieces, stop strings); checks it fits n_ctx."""
        sent, extra_stop = self._as_sent(prompt)
        prefix, pieces = self._tokens(sent)
        if not pieces:
            pieces, prefix = [prefix[-1:]], prefix[:-1]
        prompt_tokens = len(prefix) + sum(map(len, pieces))
        if prompt_tokens + sampling.max_tokens > self.params.n_ctx:
            raise UserError(
                f"prompt of {prompt_tokens} tokens + max_tokens {sampling.max_tokens} "
                f"exceeds llm.n_ctx {self.params.n_ctx}: raise llm.n_ctx or shorten the prompt"
            )
        return prefix, pieces, list(sampling.stop) + extra_stop

    def complete(self, prompt: Prompt, sampling: SamplingParams, seed: int, grammar: str | None = None) -> Completion:
        llm = self.llm
        prefix, (suffix,), stop = self._prepare(prompt, sampling)
        self._restore_prefix(prefix)
        out = llm.create_completion(
            prefix + suffix,
            **sampling_kwargs(sampling),
            stop=stop or None,
            seed=seed,
            grammar=self._grammar(grammar),
        )
        self.calls += 1
        choice = out["choices"][0]
        return Completion(
            text=choice["text"],
            finish_reason=choice["finish_reason"] or "stop",
            completion_tokens=out["usage"]["completion_tokens"],
            prompt_format=self.prompt_format,
        )

    def score(self, prompt: Prompt, continuations: Sequence[str], sampling: SamplingParams) -> Scores:
        """Each continuation's log-probability: the prompt is evaluated as `complete` evaluates it,
        then the continuations' tokens one at a time (generation/choice.py)."""
        llm = self.llm
        prefix, pieces, _ = self._prepare(prompt, sampling)
        self._restore_prefix(prefix)
        for piece in pieces:
            llm.eval(piece)
        base = llm.n_tokens

        def extend(depth: int, token: int):
            llm.n_tokens = base + depth  # eval drops the cache from here on
            llm.eval([token])
            return last_logits(llm._ctx.ctx, llm.n_vocab())

        first = last_logits(llm._ctx.ctx, llm.n_vocab())
        logprobs = continuation_logprobs(self.continuation_tokens(continuations), first, extend)
        self.calls += 1
        return Scores(logprobs, self.prompt_format)

    def continuation_tokens(self, continuations: Sequence[str]) -> list[list[int]]:
        """Each continuation tokenized on its own, as the text after a prompt."""
        return [self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False) for text in continuations]

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None
