"""Drive one generating stage: cache lookups, model calls, retries, progress.

Outcomes come back in input order and each item's result depends only on its
own inputs and derived seed, never on the order calls complete in. Backends
that serve several calls at once (`backend.concurrency` > 1, e.g. an
OpenAI-compatible server, or in-process llama.cpp with llm.batch_size > 1)
get that many items in flight from worker threads; otherwise items run one by one. An item
whose output is empty or cut off at max_tokens is retried with a
new derived seed up to `llm.max_attempts`, then rejected with its reason.
"""

from __future__ import annotations

import hashlib
import queue
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from tqdm import tqdm

from synthempathy.core.errors import UserError
from synthempathy.core.params import SamplingParams, SharedLLMParams, sampling_of
from synthempathy.core.records import Provenance
from synthempathy.generation import choice
from synthempathy.generation.cache import RequestCache, request_key
from synthempathy.generation.chat import ChatTemplate
from synthempathy.generation.hygiene import tidy_chat
from synthempathy.generation.llm import Backend, Completion
from synthempathy.generation.prompts import Prompt, Template


_SPACES = re.compile(r"[ \t]+")


def clean(text: str) -> str:
    """Trim, collapse runs of spaces, keep line breaks."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.strip().splitlines()]
    return "\n".join(lines).strip()


@dataclass(frozen=True)
class Step:
    """One output field, generated after the previous ones.

    `lead_in` is appended to the prompt before the model continues (for
    example "\nCause:"), so a multi-part answer such as Chain-of-Empathy is
    scaffolded by the prompt itself and cannot come back in the wrong shape
    (with a chat template, inside the assistant's answer; a chat file that
    asks for each step in its own turn replaces the lead-ins: generation/chat.py).
    (A GBNF grammar would do the same, but llama-cpp-python's create_completion
    and the servers apply it to the whole vocabulary before top-k, which made
    respond 3x slower with Gemma's 262k tokens; only the batched backend checks
    a grammar lazily, see llm/row_sampler.py.) The prompts of later steps
    extend earlier ones, and Prompt.cuts marks where, so the batched backend can
    keep an item's evaluated prompt from one step to the next.
    """

    field: str
    lead_in: str = ""
    single_line: bool = False
    """Also stop at the end of the line (for short steps such as the emotion)."""
    choices: tuple[str, ...] = ()
    """Entries this step names one or two of, the likeliest given the prompt, instead of
    sampling (generation/choice.py: Chain-of-Empathy's emotion, respond.emotion_list)."""

    def sampling(self, base: SamplingParams) -> SamplingParams:
        return base.model_copy(update={"stop": [*base.stop, "\n"]}) if self.single_line else base


def derive_seed(base_seed: int, stage: str, item_id: str, attempt: int) -> int:
    """Per-call seed from lineage: stable across runs, machines and item order."""
    digest = hashlib.sha256(f"{base_seed}:{stage}:{item_id}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class Item:
    id: str
    values: dict[str, str]
    """Template variables for this item."""


@dataclass
class Outcome:
    item: Item
    fields: dict[str, str] | None = None
    provenance: Provenance | None = None
    reason: str = ""
    detail: str = ""


@dataclass
class StageStats:
    items: int = 0
    kept: int = 0
    model_calls: int = 0
    cache_hits: int = 0
    completion_tokens: int = 0
    model_tokens: int = 0
    """Tokens the model generated in this run (cache hits excluded)."""
    retries: int = 0
    seconds: float = 0.0
    rejected: Counter = field(default_factory=Counter)

    def summary(self, stage: str) -> str:
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(self.rejected.items())) or "none"
        rate = self.model_tokens / self.seconds if self.seconds else 0.0
        return (
            f"{stage}: {self.items} items -> {self.kept} kept, {sum(self.rejected.values())} rejected ({reasons}); "
            f"model calls {self.model_calls}, cache hits {self.cache_hits}, retries {self.retries}; "
            f"{self.seconds:.1f}s, " + (f"{rate:.0f} tok/s" if self.model_calls else "model not loaded")
        )


class Generator:
    """Runs a template over items with one backend and one cache."""

    def __init__(self, stage: str, template: Template, section: SamplingParams, llm: SharedLLMParams,
                 backend: Backend, cache: RequestCache, steps: Sequence[Step], grammar: str | None = None,
                 check: Callable[[dict[str, str]], str | None] | None = None, as_is: bool = False,
                 chat: ChatTemplate | None = None):
        """`check` validates a finished attempt's fields and returns a problem or None;
        an attempt with a problem is retried like an empty one (reason "invalid").
        `as_is`: every first attempt is the answer, even empty or cut off at max_tokens (a
        measurement needs each model's own answer to each prompt, not the ones that passed).
        `chat`: the task as a conversation, used in place of `template` when the backend takes chat.
        `section`: the stage's params section, whose sampling settings every call uses."""
        self.stage, self.template, self.llm = stage, template, llm
        self.chat = chat if chat is not None and backend.prompt_format == "chat" else None
        self.check = check
        self.as_is = as_is
        self.grammar = grammar
        # one hash for everything that constrains the answers: the stage's grammar, any step's list
        constraints = [g for g in (grammar, *("\n".join(step.choices) for step in steps)) if g]
        self.grammar_sha256 = hashlib.sha256("\n".join(constraints).encode()).hexdigest() if constraints else None
        self.backend, self.cache, self.steps = backend, cache, tuple(steps)
        self.identity = backend.identity
        self.sampling = sampling_of(section)
        self.stats = StageStats()
        self._lock = threading.Lock()  # guards stats when items run on worker threads
        self._stopping = threading.Event()  # set when a threaded run ends early: workers start no new calls
        self._neutral: dict[str, list[float]] = {}  # a choice's scores given no text (choice.neutral_values)

    def request_key(self, prompt: Prompt, sampling: SamplingParams, seed: int, step: Step) -> str:
        """The request cache's key for one model call of `step`: everything its output depends on.
        A choice depends on the prompt and the list, not on the seed or sampling."""
        cuts = {"cuts": prompt.cuts} if prompt.cuts else {}
        if step.choices:
            return request_key(backend=self.identity.model_dump(), prompt=prompt.text, choices=list(step.choices),
                               rule=choice.RULE, **cuts)
        return request_key(backend=self.identity.model_dump(), prompt=prompt.text, sampling=sampling.model_dump(),
                           seed=seed, grammar=self.grammar, **cuts)

    def _call(self, item: Item, prompt: Prompt, answers: Sequence[str], seed: int, sampling: SamplingParams,
              step: Step) -> Completion:
        """One model call (or cache hit) for `step`, after the earlier steps' `answers`."""
        key = self.request_key(prompt, sampling, seed, step)
        cached = self.cache.get(key)
        if cached is not None:
            with self._lock:
                self.stats.cache_hits += 1
            return Completion.from_dict(cached)
        if self._stopping.is_set():
            raise _Stopped()
        try:
            if step.choices:
                neutral = self._prompt(choice.neutral_values(item.values), answers)
                completion = self._choose(prompt, neutral, step.choices, sampling)
            else:
                completion = self.backend.complete(prompt, sampling, seed, self.grammar)
        except UserError as exc:
            raise UserError(f"{self.stage} ({(self.chat or self.template).path}, item {item.id}): {exc}") from None
        self.cache.put(key, completion.to_dict())
        with self._lock:
            self.stats.model_calls += 1
            self.stats.model_tokens += completion.completion_tokens
        return completion

    def _choose(self, prompt: Prompt, neutral: Prompt, choices: tuple[str, ...], sampling: SamplingParams) -> Completion:
        """Name entries of `choices` (generation/choice.py); `neutral` is the calibration prompt, scored
        once per run (it is the same for every item of a template, or per empty value)."""
        texts = choice.continuations(choices)
        scores = self.backend.score(prompt, texts, sampling)
        if neutral.text not in self._neutral:
            self._neutral[neutral.text] = self.backend.score(neutral, texts, sampling).logprobs
        return Completion(text=choice.pick(choices, scores.logprobs, self._neutral[neutral.text]),
                          finish_reason="stop", completion_tokens=0, prompt_format=scores.prompt_format)

    def _prompt(self, values: dict[str, str], answers: Sequence[str], earlier: Sequence[str] = ()) -> Prompt:
        """The prompt for an item's next step, given the earlier steps' `answers` as the model gave them.

        Completion and one-answer chat prompts continue the answer so far, each step led in by its
        `lead_in`; a conversation of steps asks each step in its own turn (ChatTemplate.replies).
        `earlier`: the earlier steps' prompts; this one is cut where it extends them, and at its own
        end when a step follows (Prompt.cuts).
        """
        number = len(answers)
        chat = self.chat
        if chat is not None and chat.replies:
            rendered = self.backend.render_chat(chat.messages(values, answers), chat.begin(number), len(chat.turns))
        else:
            so_far = "".join(step.lead_in + answer for step, answer in zip(self.steps, answers))
            so_far += self.steps[number].lead_in
            if chat is not None:
                rendered = self.backend.render_chat(chat.messages(values), chat.answer + so_far, len(chat.turns))
            else:
                template = self.template.render(**values)
                rendered = Prompt(prefix=template.prefix, suffix=template.suffix + so_far)
        start = len(rendered.prefix)
        cuts = [len(text) - start for text in earlier if len(text) >= start and rendered.text.startswith(text)]
        if number < len(self.steps) - 1:
            cuts.append(len(rendered.suffix))
        return replace(rendered, cuts=tuple(cuts))

    def _attempt(self, item: Item, seed: int) -> tuple[dict[str, str], Completion, int, str, str]:
        """Generate every step once: (fields, last completion, tokens, reject reason, detail)."""
        fields: dict[str, str] = {}
        answers: list[str] = []  # each step's completion as it came
        earlier: list[str] = []  # each step's prompt
        tokens = 0
        for step in self.steps:
            prompt = self._prompt(item.values, answers, earlier)
            completion = self._call(item, prompt, answers, seed, step.sampling(self.sampling), step)
            tokens += completion.completion_tokens
            text = completion.text
            if completion.prompt_format == "chat":
                text = tidy_chat(text, self.backend.chat_markers)
            value = clean(text)
            if not self.as_is and completion.finish_reason == "length":
                return fields, completion, tokens, "truncated", f"{step.field}: {completion.text[-200:]}"
            if not self.as_is and not value:
                return fields, completion, tokens, "empty", step.field
            fields[step.field] = value
            answers.append(completion.text)
            earlier.append(prompt.text)
        problem = self.check(fields) if self.check else None
        if problem:
            return fields, completion, tokens, "invalid", problem
        return fields, completion, tokens, "", ""

    def _one(self, item: Item) -> Outcome:
        outcome = Outcome(item=item)
        for attempt in range(1, self.llm.max_attempts + 1):
            seed = derive_seed(self.llm.seed, self.stage, item.id, attempt)
            fields, completion, tokens, reason, detail = self._attempt(item, seed)
            with self._lock:
                self.stats.completion_tokens += tokens
                if reason and attempt < self.llm.max_attempts:
                    self.stats.retries += 1
            if reason:
                outcome.reason, outcome.detail = reason, detail
                continue
            outcome.fields = fields
            outcome.reason = outcome.detail = ""
            outcome.provenance = Provenance(
                backend=self.identity,
                prompt=(self.chat or self.template).path,
                prompt_sha256=(self.chat or self.template).sha256,
                prompt_format=completion.prompt_format,
                grammar_sha256=self.grammar_sha256,
                sampling=self.sampling.model_dump(),
                seed=seed,
                attempts=attempt,
                finish_reason=completion.finish_reason,
                completion_tokens=tokens,
            )
            return outcome
        return outcome

    def run(self, items: Sequence[Item]) -> list[Outcome]:
        """Generate every item; outcomes in input order. Ctrl-C stops cleanly, keeping cached calls."""
        start, tokens_before = time.monotonic(), self.stats.model_tokens
        self._stopping = threading.Event()  # a new run: an earlier threaded run's stop must not carry over
        outcomes: list[Outcome] = [None] * len(items)  # type: ignore[list-item]  # all filled on return
        done = 0
        bar = tqdm(total=len(items), desc=self.stage, unit="item", dynamic_ncols=True, file=sys.stderr)

        def finished(index: int, outcome: Outcome) -> None:
            nonlocal done
            outcomes[index] = outcome
            done += 1
            if outcome.fields is None:
                self.stats.rejected[outcome.reason] += 1
            bar.set_postfix(calls=self.stats.model_calls, cached=self.stats.cache_hits, refresh=False)
            bar.update()

        workers = min(self.backend.concurrency, len(items))
        try:
            if workers <= 1:
                for index, item in enumerate(items):
                    finished(index, self._one(item))
            else:
                self._run_threads(items, workers, finished)
        except KeyboardInterrupt:
            bar.close()
            print(
                f"\n{self.stage}: interrupted after {done}/{len(items)} items; "
                f"{self.stats.model_calls} new results are in the request cache, no output was written. "
                "Run `dvc repro` again to resume.",
                file=sys.stderr,
            )
            raise SystemExit(130) from None
        except BaseException:
            bar.close()  # so the stage's one-line error starts on its own line
            raise
        bar.close()
        self.stats.items = len(items)
        self.stats.kept = sum(o.fields is not None for o in outcomes)
        self.stats.seconds = time.monotonic() - start
        if self.stats.model_tokens > tokens_before:  # for `synthempathy plan`
            rows = self.identity.batch_rows or self.backend.concurrency
            self.cache.record_speed(self.stage, self.identity.model_sha256, rows,
                                    self.stats.model_tokens - tokens_before, self.stats.seconds)
        return outcomes

    def _run_threads(self, items: Sequence[Item], workers: int, finished: Callable[[int, Outcome], None]) -> None:
        """Run `_one` on `workers` daemon threads, each taking the next item when it is free.

        Every outcome (or the first error) is handed back to this, the main, thread,
        which fills the results in input order, so the bar and the reject counts
        need no lock and Ctrl-C arrives here. On an error or Ctrl-C the workers
        start no new calls; being daemon threads, they do not keep the process
        alive for requests still in flight.
        """
        self._stopping = stop = threading.Event()
        todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(len(items)):
            todo.put(index)
        results: queue.SimpleQueue[tuple[int, Outcome | None, BaseException | None]] = queue.SimpleQueue()

        def work() -> None:
            while not stop.is_set():
                try:
                    index = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    results.put((index, self._one(items[index]), None))
                except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                    results.put((index, None, exc))
                    return

        for number in range(workers):
            threading.Thread(target=work, name=f"{self.stage}-worker-{number}", daemon=True).start()
        try:
            for _ in range(len(items)):
                index, outcome, error = results.get()
                if error is not None:
                    raise error
                finished(index, outcome)
        finally:
            stop.set()


class _Stopped(Exception):
    """A worker's call was skipped because its threaded run already ended."""
