"""Injected faults: kill -9 and Ctrl-C mid-stage, a write that fails, with the real model and dvc."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest


from dvc_project import make_project, pipeline_outputs, stage_command

pytestmark = pytest.mark.model


def cached_calls(cache_dir) -> int:
    path = cache_dir / "requests.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet
        return 0


@pytest.fixture
def start_brainstorm():
    """Start the brainstorm stage as its own process (after the seeds stage); it never outlives the test."""
    started = []

    def start(project):
        # brainstorm reads the seed set; the seeds stage writes it from the files alone (no model)
        subprocess.run(stage_command("seeds"), cwd=project.path, env=project.env, check=True, capture_output=True)
        # restore_signals does not cover SIGINT: a shell starts background jobs with it ignored
        proc = subprocess.Popen(stage_command("brainstorm"), cwd=project.path, env=project.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for_calls(cache_dir, n: int, proc, limit: float = 300.0) -> None:
    deadline = time.monotonic() + limit
    while cached_calls(cache_dir) < n:
        assert proc.poll() is None, "stage finished before it could be interrupted"
        assert time.monotonic() < deadline, "no model call finished in time"
        time.sleep(0.05)


def test_sigkill_then_repro_resumes_from_cache_and_matches_uninterrupted_run(tmp_path, start_brainstorm):
    cache = tmp_path / "cache"
    project = make_project(tmp_path / "killed", cache, stories_per_seed=3)
    proc = start_brainstorm(project)
    wait_for_calls(cache, 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    done = cached_calls(cache)
    assert not (project.path / "data/stories/stories.jsonl").exists()  # nothing half-written for DVC
    assert not list(project.path.glob("data/stories/.*.tmp"))

    repro = project.dvc("repro")
    line = next(l for l in repro.stderr.splitlines() if l.startswith("brainstorm: 6 items"))
    hits = int(line.split("cache hits ")[1].split(",")[0])
    assert hits >= done >= 2  # every finished call was reused, none regenerated

    fresh = make_project(tmp_path / "fresh", tmp_path / "fresh-cache", stories_per_seed=3)
    fresh.dvc("repro")
    for rel in pipeline_outputs():
        assert project.read(rel) == fresh.read(rel), rel


def test_ctrl_c_stops_quickly_says_how_far_and_writes_nothing(tmp_path, start_brainstorm):
    cache = tmp_path / "cache"
    project = make_project(tmp_path / "repo", cache, stories_per_seed=3)
    proc = start_brainstorm(project)
    wait_for_calls(cache, 1, proc)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 10
    assert proc.returncode == 130
    assert "brainstorm: interrupted after" in err and "/6 items" in err and "dvc repro" in err
    assert "Traceback" not in err
    assert not (project.path / "data/stories/stories.jsonl").exists()
    with sqlite3.connect(cache / "requests.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert cached_calls(cache) >= 1


def test_failing_write_keeps_previous_output(tmp_path):
    """A real failed write (file size limit, like a full disk) leaves the old file and no temp file."""
    target = tmp_path / "out.jsonl"
    target.write_text("previous\n")
    script = textwrap.dedent(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # get EFBIG as an OSError instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        from synthempathy.core.jsonl import write_records
        from synthempathy.core.entry_point import entry_point

        @entry_point
        def main():
            write_records({str(target)!r}, [{{"id": str(i), "text": "x" * 100}} for i in range(1000)])

        main()
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {target}: could not write output")
    assert "previous file left intact" in lines[0]
    assert target.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
