"""`synthempathy plan`: the arithmetic from metrics and recorded speeds, and the speed recording itself."""

import json
import math
import subprocess
import sys

import pytest

from synthempathy.core.params import GenerationParams, LlamaCppParams, load_params
from synthempathy.generation.cache import RequestCache
from synthempathy.generation.driver import Generator, Item, Step
from synthempathy.generation.llm import make_backend
from synthempathy.generation.prompts import load_template
from synthempathy.plan import make_plan, render

from conftest import ROOT

NONE = {"rejected": {}}
METRICS = {  # each as its stage writes it (core/metrics.py), with the rates that matter here
    "seeds": {"seeds": 27, "from_files": 27, "candidates": 0, "grown": 0, "missing": 0, "completion_tokens": 0,
              "diversity": {"distinct_2": 0.9, "nearest_neighbour_similarity": 0.5}, **NONE},
    "brainstorm": {"items": 100, "kept": 90, "retries": 10, "completion_tokens": 6000, "seeds": 27, **NONE},
    "rewrite": {"items": 90, "kept": 90, "retries": 0, "completion_tokens": 9000, **NONE},
    "respond": {"items": 90, "kept": 80, "retries": 20, "completion_tokens": 18000, "chain_of_empathy": True, **NONE},
    "judge": {"items": 40, "kept": 40, "retries": 0, "completion_tokens": 800, **NONE},
    "filter": {"pairs_in": 80, "kept": 40, "dropped": {"too_short": 40}},
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data/seeds").symlink_to(ROOT / "data/seeds")
    (tmp_path / "metrics").mkdir()
    for stage, m in METRICS.items():
        (tmp_path / "metrics" / f"{stage}.json").write_text(json.dumps(m))
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    return tmp_path


def test_plan_multiplies_scale_by_measured_rates_and_speeds(project):
    params = load_params()
    backend = make_backend(params.llm)
    cache = RequestCache()
    for stage, speed in [("brainstorm", 50.0), ("rewrite", 40.0), ("respond", 30.0), ("judge", 10.0)]:
        cache.record_speed(stage, backend.model.sha256, params.llm.batch_size, int(speed * 100), 100.0)
    cache.record_speed("respond", backend.model.sha256, 1, 999_999, 1.0)  # another batch size: not used
    cache.close()
    plan = make_plan(params)
    got = {p.stage: p for p in plan.stages}
    stories = 9 * 3 * 3
    assert got["seeds"].items == 0 and got["seeds"].hours == 0.0
    assert got["brainstorm"].items == stories and got["brainstorm"].requests == pytest.approx(stories * 1.1)
    assert got["brainstorm"].tokens == pytest.approx(stories * 60) and got["brainstorm"].tok_per_s == 50.0
    assert got["rewrite"].items == pytest.approx(stories * 0.9)
    respond = got["respond"]
    assert respond.items == pytest.approx(stories * 0.9)
    assert respond.requests == pytest.approx(respond.items * (1 + 20 / 90) * 3)  # emotion, cause, response
    assert respond.tokens == pytest.approx(respond.items * 200) and respond.tok_per_s == 30.0
    assert respond.hours == pytest.approx(respond.tokens / 30 / 3600)
    assert plan.kept_pairs == pytest.approx(stories * 0.9 * 1 * (80 / 90) * 0.5)
    assert got["judge"].items == pytest.approx(plan.kept_pairs)
    text = render(plan)
    total = sum(p.tokens / p.tok_per_s for p in plan.stages if p.tokens) / 3600
    assert f"total: {total:.2f} h; expected kept pairs: 32" in text
    assert "not counted" not in text and "no speed recorded" not in text


def test_plan_for_a_target_scales_seeds_and_counts_what_to_grow(project):
    params = load_params()
    plan = make_plan(params, pairs=105_578, tok_per_s=500.0)
    pairs_per_story = 0.9 * (80 / 90) * 0.5
    per_category = math.ceil(105_578 / pairs_per_story / 3 / 9)
    assert plan.scale.seeds_per_category == per_category
    assert 105_578 <= plan.kept_pairs < 105_578 + 9 * 3 * pairs_per_story
    seeds = {p.stage: p for p in plan.stages}["seeds"]
    assert seeds.items == 9 * (per_category - 5)  # the taxonomy holds 5 per category; seeds metrics say keep 1
    assert all(p.tok_per_s == 500.0 for p in plan.stages)
    assert f"scale: {per_category:,} seeds per category" in render(plan)


def test_plan_command_runs_and_rejects_bad_options(project):
    ok = subprocess.run([sys.executable, "-m", "synthempathy", "plan", "--pairs", "1000"], capture_output=True,
                        text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[1].split() == ["stage", "items", "requests", "tokens", "tok/s", "hours"]
    assert "no speed recorded" in ok.stdout  # this test's cache is empty
    bad = subprocess.run([sys.executable, "-m", "synthempathy", "plan", "--tok-per-s", "-3"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --tok-per-s must be positive (got -3)"


@pytest.mark.model
def test_a_run_that_calls_the_model_records_its_speed(embedded_model):
    params = GenerationParams(prompt="prompts/brainstorm.txt", max_tokens=16, stop=["\n"])
    llm = LlamaCppParams(n_ctx=1024, batch_size=2, max_attempts=1)
    backend, cache = make_backend(llm), RequestCache()
    try:
        gen = Generator("brainstorm", load_template(ROOT / params.prompt, {"situation"}), params, llm, backend, cache,
                        (Step("story"),))
        items = [Item(id=f"i{n}", values={"situation": s}) for n, s in enumerate(["A flat tyre", "A noisy flat"])]
        gen.run(items)
        speed = cache.speed("brainstorm", embedded_model.sha256, 2)
        assert speed == pytest.approx(gen.stats.model_tokens / gen.stats.seconds)
        gen.run(items)  # all cached: nothing to record
        assert cache.speed("brainstorm", embedded_model.sha256, 2) == speed
        assert cache.speed("rewrite", embedded_model.sha256, 2) is None
    finally:
        backend.close()
        cache.close()
