"""In-process llama.cpp that decodes several items per step (llm.batch_size > 1).

Why: on a CPU one decode step reads every weight once whatever the number of
rows, so 8 sequences per `llama_decode` give about 2x the tokens/s of one at a
time with the embedded model (benchmarks/BATCH.md).

Why every step has exactly `batch_size` rows: llama.cpp's CPU kernels give a
row a slightly different result depending on how many rows the step holds,
which flips sampled tokens. Batching whatever items happen to be in flight made
24 of 24 items differ from their one-at-a-time output, so a resumed run (which
batches different items together) would not match a fresh one. Here a slot
with no item decodes a padding token into its own sequence instead of leaving
the batch, every row asks for logits (llama.cpp skips the last layer for rows
that do not, changing the row count again), and each sequence has its own KV
stream (`kv_unified` off), so attention never sees another item's cells. An
item's output then depends on its prompt, sampling, seed and `batch_size`
only: measured 0 differences in 128 outputs across neighbours, slots and
arrival times. It does differ from `batch_size: 1`, so the row count is part
of every request-cache key and of provenance (`batch_rows`).

How: the generation driver keeps `batch_size` items in flight on its worker
threads; each `complete` call tokenizes, queues its request and waits. One
scheduler thread owns the llama_context. It gives each free slot the next
request (the static prompt prefix, evaluated once into sequence 0, is copied
into the slot; the item's own suffix is then evaluated on its own), and
decodes one token for every slot per step, with one sampler per item
(row_sampler.py: llama-cpp-python's chain, the grammar checked lazily).

A finished slot keeps its prompt in its sequence (only the generated tokens
are dropped), because Chain-of-Empathy's next step extends that prompt by the
previous answer and a lead-in: the next step goes to that slot and evaluates
only the extension. For that to give the same numbers as evaluating the prompt
from scratch (a resumed run, whose earlier step came from the request cache),
a prompt is always evaluated piece by piece, at the cuts the driver marks
(`Prompt.cuts`): reused or recomputed, every piece is the same llama_decode.

Prompts alone or in steps (`llm.prompt_chunk`): by default each item's prompt is
evaluated on its own while the other rows wait, which is the cheapest way on a
CPU, where a step's cost grows with its tokens (benchmarks/BATCH.md). With
`prompt_chunk` N, prompts go through fixed-shape prompt steps instead: every row
holds N tokens of its own sequence (the next chunk of its pending prompt, or
padding), so all slots that wait for a prompt share each llama_decode, as a GPU
wants, and a chunk's arithmetic again never depends on the other rows.
"""

from __future__ import annotations

import collections
import ctypes
import sys
import threading
import time
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from synthempathy.core.params import LlamaCppParams, SamplingParams
from synthempathy.generation.choice import continuation_logprobs
from synthempathy.generation.llm.base import Completion, Scores
from synthempathy.generation.llm.llama_cpp import LlamaCppBackend, _quiet_stderr, last_logits
from synthempathy.generation.llm.row_sampler import RowSampler
from synthempathy.generation.prompts import Prompt

REVISION = 3
"""Bump when a change in this module can alter any output (scheduling, padding, sampling);
see llama_cpp.REVISION. 2: grammar checked lazily, prompts evaluated piece by piece.
3: a chat prompt's closing markers are a piece of their own only when a later step extends it."""

PREFIX_SEQ = 0
"""Sequence holding the current static prefix; slots are sequences 1..batch_size."""


def decode_rows(ctx, batch, entries: list[tuple[int, int, int, bool]]) -> int:
    """llama_decode of (token, position, sequence, wants logits) rows through `batch`; its return code."""
    import llama_cpp

    for i, (token, pos, seq, logits) in enumerate(entries):
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, 1, logits
        batch.seq_id[i][0] = seq
    batch.n_tokens = len(entries)
    return llama_cpp.llama_decode(ctx, batch)


@dataclass
class DecodeTiming:
    """Where the scheduler's time went (benchmarks/batch_benchmark.py reads it; no output does)."""

    prefill_s: float = 0.0
    """Evaluating items' prompts (beyond the static prefix and any kept pieces), alone or in
    prompt steps, while the other rows wait."""
    prefill_tokens: int = 0
    prompt_calls: int = 0
    """llama_decode calls that evaluated those prompts (one per piece alone; one per prompt step
    for all rows with `prompt_chunk`): on a GPU each costs about the same whatever it holds."""
    reused_tokens: int = 0
    """Prompt tokens a slot already held from the item's previous step, not evaluated again."""
    grammar_resamples: int = 0
    """Sampled tokens a grammar rejected (each sampled again with the grammar applied first)."""
    decode_s: float = 0.0
    """Fixed-row decode steps, sampling included."""
    steps: int = 0
    busy_rows: int = 0
    """Rows that decoded an item's token (not padding), summed over steps."""

    def ceiling(self, rows: int) -> float:
        """Tokens/s the decode steps would give with every row busy: rows x steps / decode seconds."""
        return rows * self.steps / self.decode_s if self.decode_s else 0.0

    def describe(self, rows: int) -> str:
        total, busy = self.prefill_s + self.decode_s, self.busy_rows / (rows * self.steps)
        return (f"scheduler {total:.0f}s: prompts {self.prefill_s / total:.0%} ({self.prefill_tokens} tokens "
                f"evaluated in {self.prompt_calls} calls, {self.reused_tokens} kept from earlier steps), "
                f"decode steps {self.decode_s / total:.0%} with {busy:.0%} of rows busy, "
                f"padded ceiling {self.ceiling(rows):.0f} tok/s; {self.grammar_resamples} grammar resamples")


@dataclass
class _Request:
    prefix: list[int]
    pieces: list[list[int]]
    """The prompt after the static prefix, at Prompt.cuts; each piece is evaluated on its own."""
    sampling: SamplingParams
    seed: int
    grammar: str | None
    stop: list[str]
    scored: list[list[int]] | None = None
    """Continuations' tokens to score instead of generating (LlamaCppBackend.score)."""
    logprobs: list[float] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    result: Completion | None = None
    error: BaseException | None = None

    @property
    def parts(self) -> list[list[int]]:
        """[prefix, *pieces]: the prompt as a slot's sequence holds it."""
        return [self.prefix, *self.pieces]


@dataclass
class _Slot:
    seq: int
    """Its sequence id; also its row in every step (seq - 1)."""
    pos: int = 0
    """Where its next token goes in its sequence (padding counts up from `kept_tokens` while idle)."""
    kept: list[list[int]] = field(default_factory=list)
    """[prefix, *pieces] of the last prompt evaluated into its sequence (kept after it finishes)."""
    kept_tokens: int = 0
    idle_since: int = 0
    """When it last finished, counted in releases (free slots without a matching prompt go oldest first)."""
    request: _Request | None = None
    pending: list[list[int]] = field(default_factory=list)
    """Chunks of its request's prompt still to evaluate in prompt steps (`prompt_chunk` only)."""
    sampler: Any = None
    tokens: list[int] = field(default_factory=list)
    text: bytearray = field(default_factory=bytearray)


class BatchedLlamaCppBackend(LlamaCppBackend):
    name, revision = "llama_cpp_batched", REVISION

    def __init__(self, params: LlamaCppParams):
        super().__init__(params)
        self.batch_rows = params.batch_size
        self.concurrency = params.batch_size
        self.prompt_chunk = params.prompt_chunk
        if params.prompt_chunk and not params.n_gpu_layers:
            tqdm.write("llm: prompt_chunk > 0 on a CPU: prompt steps also compute their padding, 1.9-2.6x slower "
                       "than prompt_chunk 0 there (benchmarks/BATCH.md)", file=sys.stderr)
        self._load_lock = threading.Lock()
        self._wake = threading.Condition()
        self._queue: collections.deque[_Request] = collections.deque()
        self._closing = False
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._ctx = self._mem = self._batch = None
        self._slots = [_Slot(seq=n) for n in range(1, params.batch_size + 1)]
        self._prefix: list[int] | None = None
        self._releases = 0
        self._draining = False
        self.timing = DecodeTiming()

    # The Llama object only tokenizes and holds the weights here; its own context
    # stays unused, so keep its KV cache at llama.cpp's smallest useful size.
    own_context_tokens = 256

    def _pieces(self, prompt: Prompt) -> list[str]:
        return prompt.pieces()

    def _implementation(self) -> str:
        chunked = f", prompts in {self.prompt_chunk}-token steps" if self.prompt_chunk else ""
        return super()._implementation() + chunked

    # -- called from the driver's worker threads ----------------------------------
    def complete(self, prompt: Prompt, sampling: SamplingParams, seed: int, grammar: str | None = None) -> Completion:
        return self._submit(prompt, sampling, seed, grammar).result

    def score(self, prompt: Prompt, continuations: Sequence[str], sampling: SamplingParams) -> Scores:
        """As LlamaCppBackend.score, in a slot: the prompt evaluated as for `complete` (kept for the
        item's next step), then the continuations' tokens one at a time into the slot's sequence."""
        request = self._submit(prompt, sampling, 0, None, continuations)
        return Scores(request.logprobs, self.prompt_format)

    def _submit(self, prompt: Prompt, sampling: SamplingParams, seed: int, grammar: str | None,
                continuations: Sequence[str] | None = None) -> _Request:
        """Queue a request for the scheduler thread and wait for it to be answered."""
        if self._closing:  # no scheduler would ever answer
            raise RuntimeError("complete() called on a closed backend")
        with self._load_lock:  # the first calls arrive together; load the model once
            self.llm
            prefix, pieces, stop = self._prepare(prompt, sampling)
            self._grammar(grammar)  # parse errors belong to this call, not to the scheduler
            scored = self.continuation_tokens(continuations) if continuations is not None else None
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="llama-batch", daemon=True)
                self._thread.start()
        request = _Request(prefix, pieces, sampling, seed, grammar, stop, scored)
        with self._wake:
            if self._failure is not None:
                raise self._failure
            self._queue.append(request)
            self._wake.notify()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request

    def report(self) -> str | None:
        return self.timing.describe(self.batch_rows) if self.timing.steps else None

    def close(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for slot in self._slots:  # requests cut short by a failure still hold their samplers
            if slot.sampler is not None:
                slot.sampler.close()
                slot.sampler = None
        if self._batch is not None:
            import llama_cpp

            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self._ctx)
            self._ctx = self._mem = self._batch = None
        super().close()

    # -- the scheduler thread ---------------------------------------------------
    def _serve(self) -> None:
        try:
            self._open_context()
            while True:
                with self._wake:
                    while not self._closing and not self._queue and not self._busy():
                        self._wake.wait()
                    if self._closing:
                        return
                    starting, free = [], [slot for slot in self._slots if slot.request is None]
                    while free and self._queue:
                        request = self._queue.popleft()
                        slot = max(free, key=lambda s: (self._reusable(s, request), -s.idle_since))
                        free.remove(slot)
                        starting.append((slot, request))
                for slot, request in starting:
                    self._start(slot, request)
                if self._prompts_due():
                    self._prompt_step()
                elif self._busy():
                    self._step()
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller
            self._fail_all(exc)

    def _busy(self) -> bool:
        return any(slot.request is not None for slot in self._slots)

    def _prompts_due(self) -> bool:
        """Whether the next step is a prompt step (`prompt_chunk` only): once half the rows wait
        for their prompt, or when no row has anything else to decode; then until no prompt is
        left. Waiting lets one prompt step serve several slots; when it runs changes no output."""
        waiting = sum(bool(slot.pending) for slot in self._slots)
        if not waiting:
            self._draining = False
        elif not self._draining:
            generating = any(slot.request is not None and not slot.pending for slot in self._slots)
            self._draining = not generating or 2 * waiting >= self.batch_rows
        return self._draining

    def _fail_all(self, exc: BaseException) -> None:
        with self._wake:
            self._failure = exc
            waiting = [s.request for s in self._slots if s.request is not None] + list(self._queue)
            self._queue.clear()
        for request in waiting:
            request.error = exc
            request.done.set()

    def _open_context(self) -> None:
        """A second context on the loaded weights: one KV stream per slot plus the prefix's."""
        import llama_cpp

        llm, rows = self.llm, self.batch_rows
        p = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
        p.n_seq_max = rows + 1
        # split evenly between the streams; a prompt step writes up to prompt_chunk padding cells past n_ctx
        p.n_ctx = (self.params.n_ctx + self.prompt_chunk) * (rows + 1)
        self._n_batch = max(self.params.n_batch, rows)
        p.n_batch = p.n_ubatch = max(self._n_batch, rows * self.prompt_chunk)
        p.kv_unified = False
        p.swa_full = True  # (llama.cpp's default) a kept prompt must keep every cell, not just a sliding window
        with _quiet_stderr():
            self._ctx = llama_cpp.llama_init_from_model(llm._model.model, p)
        if not self._ctx:
            raise RuntimeError(f"llama.cpp could not create a context for llm.batch_size {rows}")
        if self.adapter is not None:  # Llama(lora_path=...) attached it to its own context only
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(llm._lora_adapter)
            if llama_cpp.llama_set_adapters_lora(self._ctx, adapters, 1, (ctypes.c_float * 1)(1.0)):
                raise RuntimeError(f"llama.cpp could not apply the adapter {self.adapter.name}")
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(p.n_batch, 0, 1)
        self._vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
        self._pad = max(llm.token_bos(), 0)

    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """One llama_decode of (token, position, sequence, wants logits) rows."""
        rc = decode_rows(self._ctx, self._batch, entries)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc} (llm.batch_size {self.batch_rows})")

    def _evaluate(self, tokens: list[int], seq: int, start: int) -> int:
        """Evaluate `tokens` alone into `seq` from position `start`; logits for the last one.
        Returns the llama_decode calls it took."""
        starts = range(0, len(tokens), self._n_batch)
        for at in starts:
            chunk = tokens[at:at + self._n_batch]
            last = at + len(chunk) == len(tokens)
            self._decode([(t, start + at + i, seq, last and i == len(chunk) - 1) for i, t in enumerate(chunk)])
        return len(starts)

    @staticmethod
    def _reusable(slot: _Slot, request: _Request) -> int:
        """How many of [prefix, *pieces] the slot's sequence already holds; at least one piece
        is always left to evaluate, since the first token needs logits the way they came first."""
        wanted = request.parts
        n = 0
        while n < min(len(slot.kept), len(wanted) - 1) and slot.kept[n] == wanted[n]:
            n += 1
        return n

    def _start(self, slot: _Slot, request: _Request) -> None:
        """Give `slot` the request: the rest of its prompt into its sequence, then its first token."""
        import llama_cpp

        started = time.perf_counter()
        keep = self._reusable(slot, request)
        if keep <= 1:  # nothing of the item's own: start from a fresh copy of the prefix
            if request.prefix != self._prefix:
                llama_cpp.llama_memory_seq_rm(self._mem, PREFIX_SEQ, -1, -1)
                with _quiet_stderr():  # the first decode allocates buffers and logs about it
                    self._evaluate(request.prefix, PREFIX_SEQ, 0)
                self._prefix = request.prefix
                started = time.perf_counter()  # the prefix is a one-off per template, not per item
            llama_cpp.llama_memory_seq_rm(self._mem, slot.seq, -1, -1)
            llama_cpp.llama_memory_seq_cp(self._mem, PREFIX_SEQ, slot.seq, -1, -1)
            keep = 1
        wanted = request.parts
        pos = sum(map(len, wanted[:keep]))
        llama_cpp.llama_memory_seq_rm(self._mem, slot.seq, pos, -1)  # generated tokens and padding
        if keep > 1:
            self.timing.reused_tokens += pos - len(request.prefix)
        pieces = wanted[keep:]
        self.timing.prefill_tokens += sum(map(len, pieces))
        slot.kept, slot.kept_tokens, slot.pos = wanted, pos + sum(map(len, pieces)), pos
        if request.scored is not None:
            self._score(slot, request, pieces)
            self.timing.prefill_s += time.perf_counter() - started
            return
        slot.sampler = RowSampler(self.llm, request.sampling, request.seed, self._grammar(request.grammar))
        slot.request, slot.tokens, slot.text = request, [], bytearray()
        if self.prompt_chunk:  # evaluated by the prompt steps, all slots together
            size = self.prompt_chunk
            slot.pending = [piece[at:at + size] for piece in pieces for at in range(0, len(piece), size)]
        else:
            for piece in pieces:
                self.timing.prompt_calls += self._evaluate(piece, slot.seq, slot.pos)
                slot.pos += len(piece)
            self._take(slot, slot.sampler.sample(self._ctx, -1))
        self.timing.prefill_s += time.perf_counter() - started

    def _score(self, slot: _Slot, request: _Request, pieces: list[list[int]]) -> None:
        """Answer a scoring request: its pieces alone into the slot's sequence, then every
        continuation token alone after them (generation/choice.py), then the slot is free again,
        holding the prompt. With `prompt_chunk` the next step recomputes the item's pieces in
        prompt steps, so the slot keeps only the prefix, as if nothing of the item had been there."""
        import llama_cpp

        for piece in pieces:
            self.timing.prompt_calls += self._evaluate(piece, slot.seq, slot.pos)
            slot.pos += len(piece)
        base, vocab = slot.pos, self.llm.n_vocab()

        def extend(depth: int, token: int):
            llama_cpp.llama_memory_seq_rm(self._mem, slot.seq, base + depth, -1)
            self._decode([(token, base + depth, slot.seq, True)])
            return last_logits(self._ctx, vocab)

        request.logprobs = continuation_logprobs(request.scored, last_logits(self._ctx, vocab), extend)
        if self.prompt_chunk:
            slot.kept, slot.kept_tokens = request.parts[:1], len(request.prefix)
        self._release(slot)
        self.calls += 1
        request.done.set()

    def _prompt_step(self) -> None:
        """Evaluate the next chunk of every pending prompt in one llama_decode of fixed shape:
        each row holds `prompt_chunk` tokens of its own sequence (a chunk, then padding at the
        positions after it; only padding for a slot with nothing pending) and asks for logits at
        one of them, so the step's shape never depends on which slots wait. The padding's cells
        are dropped afterwards; a slot whose prompt is complete samples its first token."""
        import llama_cpp

        started, size = time.perf_counter(), self.prompt_chunk
        entries, outputs = [], []
        for row, slot in enumerate(self._slots):
            chunk = slot.pending[0] if slot.pending else []
            last = max(len(chunk), 1) - 1
            tokens = chunk + [self._pad] * (size - len(chunk))
            entries += [(t, slot.pos + i, slot.seq, i == last) for i, t in enumerate(tokens)]
            outputs.append(row * size + last)
        self._decode(entries)
        self.timing.prompt_calls += 1
        for slot, output in zip(self._slots, outputs):
            if slot.pending:
                slot.pos += len(slot.pending.pop(0))
            llama_cpp.llama_memory_seq_rm(self._mem, slot.seq, slot.pos, -1)  # the padding
            if slot.request is not None and not slot.pending and not slot.tokens:
                self._take(slot, slot.sampler.sample(self._ctx, output))
        self.timing.prefill_s += time.perf_counter() - started

    def _step(self) -> None:
        """Decode one token for every slot; idle slots, and slots whose prompt is not yet evaluated,
        decode padding so the row count never changes."""
        import llama_cpp

        started = time.perf_counter()
        live = [slot.request is not None and not slot.pending for slot in self._slots]
        self._decode([(s.tokens[-1] if on else self._pad, s.pos, s.seq, True) for s, on in zip(self._slots, live)])
        self.timing.busy_rows += sum(live)
        for row, (slot, on) in enumerate(zip(self._slots, live)):
            if slot.pending:  # its prompt goes on from here: drop the padding
                llama_cpp.llama_memory_seq_rm(self._mem, slot.seq, slot.pos, -1)
                continue
            slot.pos += 1
            if on:
                self._take(slot, slot.sampler.sample(self._ctx, row))
            elif slot.pos >= self.params.n_ctx:  # padding filled the stream: drop it, keep the prompt
                llama_cpp.llama_memory_seq_rm(self._mem, slot.seq, slot.kept_tokens, -1)
                slot.pos = slot.kept_tokens
        self.timing.decode_s += time.perf_counter() - started
        self.timing.steps += 1

    def _take(self, slot: _Slot, token: int) -> None:
        """Append the slot's sampled token; finish the request when it is done."""
        import llama_cpp

        request = slot.request
        if llama_cpp.llama_vocab_is_eog(self._vocab, token):
            return self._finish(slot, "stop", slot.text.decode("utf-8", errors="ignore"))
        slot.tokens.append(token)
        slot.text += self._piece(token)
        text = slot.text.decode("utf-8", errors="ignore")
        cuts = [at for at in (text.find(stop) for stop in request.stop) if at >= 0]
        if cuts:
            return self._finish(slot, "stop", text[:min(cuts)])
        if len(slot.tokens) >= request.sampling.max_tokens:
            return self._finish(slot, "length", text)
        return None

    def _piece(self, token: int) -> bytes:
        """The token's text bytes. (llama-cpp-python's detokenize has a fixed 32-byte buffer.)"""
        import llama_cpp

        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, size, 0, False)
            if n >= 0:
                return buf.raw[:n]
            size = -n

    def _finish(self, slot: _Slot, reason: str, text: str) -> None:
        request = slot.request
        request.result = Completion(text=text, finish_reason=reason, completion_tokens=len(slot.tokens),
                                    prompt_format=self.prompt_format)
        self._release(slot)
        self.calls += 1
        request.done.set()

    def _release(self, slot: _Slot) -> None:
        """Make `slot` idle, keeping its prompt for the item's next step: it decodes padding
        after the prompt until it gets a request."""
        import llama_cpp

        if slot.sampler is not None:
            self.timing.grammar_resamples += slot.sampler.resampled
            slot.sampler.close()
        slot.request = slot.sampler = None
        llama_cpp.llama_memory_seq_rm(self._mem, slot.seq, slot.kept_tokens, -1)
        slot.pos = slot.kept_tokens
        self._releases += 1
        slot.idle_since = self._releases
