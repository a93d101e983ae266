"""The generation driver (generate.Generator) on a scripted backend: retries, truncation,
checks, lead-ins, threading, Ctrl-C, the request cache and the backend identity.

The same paths run with the real model in test_generate.py and test_openai_backend.py;
here every answer is chosen, so each rule is pinned exactly and in milliseconds.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest

from synthempathy.core.errors import UserError
from synthempathy.core.params import GenerationParams, LlamaCppParams, sampling_of
from synthempathy.generation.cache import RequestCache
from synthempathy.generation.driver import Generator, Item, Step, derive_seed
from synthempathy.generation.prompts import load_template

from conftest import ROOT
from fakes import IDENTITY, ScriptedBackend

LLM = LlamaCppParams(max_attempts=3, seed=7)
PARAMS = GenerationParams(prompt="prompts/brainstorm.txt", max_tokens=12, stop=["###"])
SITUATIONS = ["Losing a job", "A flat tyre", "A noisy neighbour", "Failing an exam", "Moving house", "A sick parent"]


def items(n: int = len(SITUATIONS)) -> list[Item]:
    return [Item(id=f"i{i}", values={"situation": s}) for i, s in enumerate(SITUATIONS[:n])]


def situation(prompt) -> str:
    return prompt.suffix.split("Situation: ")[-1].split("\n")[0]


def run(backend, items_, steps=(Step("story"),), check=None, llm=LLM):
    template = load_template(ROOT / PARAMS.prompt, {"situation"})
    cache = RequestCache()
    try:
        generator = Generator("brainstorm", template, PARAMS, llm, backend, cache, steps, check=check)
        return generator.run(items_), generator.stats
    finally:
        cache.close()


def test_an_empty_answer_is_retried_with_the_next_attempts_seed():
    first_seed = derive_seed(LLM.seed, "brainstorm", "i0", 1)
    backend = ScriptedBackend(lambda prompt, seed: "  " if seed == first_seed else " A story.")
    [outcome], stats = run(backend, items(1))
    assert outcome.fields == {"story": "A story."}
    assert [seed for _, seed in backend.calls] == [derive_seed(LLM.seed, "brainstorm", "i0", a) for a in (1, 2)]
    assert (outcome.provenance.attempts, outcome.provenance.seed) == (2, backend.calls[1][1])
    assert (stats.model_calls, stats.retries, stats.kept, dict(stats.rejected)) == (2, 1, 1, {})


def test_an_answer_cut_at_max_tokens_is_retried_then_rejected_as_truncated():
    backend = ScriptedBackend(lambda prompt, seed: " word" * 40)
    [outcome], stats = run(backend, items(1))
    assert outcome.fields is None and outcome.provenance is None
    assert outcome.reason == "truncated" and outcome.detail.startswith("story: ")
    assert (stats.model_calls, stats.retries, stats.completion_tokens) == (3, 2, 36)
    assert dict(stats.rejected) == {"truncated": 1}


def test_a_failed_check_is_retried_and_its_problem_kept_as_the_detail():
    backend = ScriptedBackend(lambda prompt, seed: f" Story {seed % 2}.")
    check = lambda fields: None if fields["story"] == "Story 0." else "odd seed"  # noqa: E731
    outcomes, stats = run(backend, items(), check=check)
    for i, outcome in enumerate(outcomes):
        attempts = [a for a in range(1, 4) if derive_seed(7, "brainstorm", f"i{i}", a) % 2 == 0]
        if attempts:
            assert outcome.fields == {"story": "Story 0."} and outcome.provenance.attempts == attempts[0]
        else:
            assert (outcome.fields, outcome.reason, outcome.detail) == (None, "invalid", "odd seed")
    assert stats.kept + stats.rejected["invalid"] == len(SITUATIONS)


def test_each_step_continues_the_previous_ones_after_its_lead_in():
    backend = ScriptedBackend(lambda prompt, seed: " sad\nmore" if prompt.suffix.endswith("Feeling:")
                              else " A story.\n")
    steps = (Step("story"), Step("feeling", "\nFeeling:", single_line=True))
    [outcome], _ = run(backend, items(1), steps=steps)
    assert outcome.fields == {"story": "A story.", "feeling": "sad"}  # single_line adds "\n" to the stops
    assert backend.calls[1][0].suffix == backend.calls[0][0].suffix + " A story.\n" + "\nFeeling:"
    first, second = backend.calls[0][0], backend.calls[1][0]
    # the first prompt ends at a cut (the second extends it); the second keeps that cut and adds none
    assert first.cuts == (len(first.suffix),) and second.cuts == first.cuts
    assert second.pieces() == [first.suffix, " A story.\n\nFeeling:"]


def test_a_single_step_prompt_has_no_cuts():
    backend = ScriptedBackend(lambda prompt, seed: " A story.\n")
    run(backend, items(1))
    assert backend.calls[0][0].cuts == () and backend.calls[0][0].pieces() == [backend.calls[0][0].suffix]


def test_threaded_run_returns_input_order_when_calls_finish_in_reverse():
    backend = ScriptedBackend(lambda prompt, seed: f" story {SITUATIONS.index(situation(prompt))}", concurrency=4,
                              delay=lambda prompt: 0.05 * (len(SITUATIONS) - SITUATIONS.index(situation(prompt))))
    outcomes, stats = run(backend, items())
    assert [o.fields["story"] for o in outcomes] == [f"story {i}" for i in range(len(SITUATIONS))]
    assert [situation(p) for p, _ in backend.calls] != SITUATIONS  # they really did finish out of order
    assert (stats.model_calls, stats.completion_tokens, stats.kept, stats.items) == (6, 12, 6, 6)


def test_a_run_of_one_item_after_a_threaded_run_still_calls_the_model():
    """The seeds stage grows in rounds on one generator: a round of several items runs on threads, whose
    end stops its workers; a later round of one item runs in this thread and must not inherit that stop."""
    backend = ScriptedBackend(lambda prompt, seed: f" story {situation(prompt)}", concurrency=4)
    template = load_template(ROOT / PARAMS.prompt, {"situation"})
    cache = RequestCache()
    try:
        generator = Generator("brainstorm", template, PARAMS, LLM, backend, cache, (Step("story"),))
        assert all(o.fields for o in generator.run(items(3)))
        (alone,) = generator.run([Item(id="later", values={"situation": "Moving house"})])
    finally:
        cache.close()
    assert alone.fields == {"story": "story Moving house"} and len(backend.calls) == 4


def test_an_error_in_one_worker_ends_the_run_with_that_error():
    def reply(prompt, seed):
        if situation(prompt) == SITUATIONS[3]:
            raise UserError("the server refused")
        return " fine"
    with pytest.raises(UserError, match=r"^brainstorm \(.*prompts/brainstorm\.txt, item i3\): the server refused$"):
        run(ScriptedBackend(reply, concurrency=3), items())


def test_ctrl_c_stops_a_threaded_run_at_once(capsys):
    # a shell starts background jobs with SIGINT ignored; Ctrl-C in a terminal raises KeyboardInterrupt
    backend = ScriptedBackend(lambda prompt, seed: " story", concurrency=2,
                              delay=lambda prompt: 0.3 if SITUATIONS.index(situation(prompt)) < 2 else 30)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    start = time.monotonic()
    try:
        with pytest.raises(SystemExit) as exc:
            run(backend, items())
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert exc.value.code == 130 and time.monotonic() - start < 5
    assert re.search(r"brainstorm: interrupted after [0-2]/6 items", capsys.readouterr().err)  # items 2+ take 30 s


def test_a_second_run_is_served_from_the_cache_with_the_same_records():
    reply = lambda prompt, seed: f" Story {seed}."  # noqa: E731
    first, stats1 = run(ScriptedBackend(reply), items())
    again = ScriptedBackend(reply)
    second, stats2 = run(again, items())
    assert again.calls == [] and (stats2.model_calls, stats2.cache_hits) == (0, stats1.model_calls)
    assert [(o.fields, o.provenance) for o in second] == [(o.fields, o.provenance) for o in first]


@pytest.mark.parametrize("field, other", [("implementation", "scripted r2"), ("model_sha256", "f" * 64),
                                          ("batch_rows", 8), ("cpu_repack", False), ("gpu_layers", -1)])
def test_any_change_of_backend_identity_misses_the_cache(field, other):
    reply = lambda prompt, seed: f" Story {seed}."  # noqa: E731
    run(ScriptedBackend(reply), items(2))
    changed = ScriptedBackend(reply, identity=IDENTITY.model_copy(update={field: other}))
    outcomes, stats = run(changed, items(2))
    assert (stats.model_calls, stats.cache_hits) == (2, 0)
    assert {getattr(o.provenance.backend, field) for o in outcomes} == {other}


def test_provenance_holds_the_identity_sampling_and_seed_unchanged():
    outcomes, _ = run(ScriptedBackend(lambda prompt, seed: " A story."), items(2))
    for outcome in outcomes:
        prov = outcome.provenance
        assert prov.backend == IDENTITY and prov.sampling == sampling_of(PARAMS).model_dump()
        assert prov.seed == derive_seed(LLM.seed, "brainstorm", outcome.item.id, 1)
        assert (prov.prompt, prov.finish_reason, prov.completion_tokens) == (str(ROOT / PARAMS.prompt), "stop", 2)
