"""`llm.backend: openai` against a real `python -m llama_cpp.server` on 127.0.0.1.

The server is started through `synthempathy serve`, which is llama_cpp.server
loading the model under llm.cpu_repack's decision, so the suite also runs on
CPUs with AMX (tests/test_amx_workaround.py).

The server runs the embedded model with `--n_ubatch 1 --logits_all false`:
llama_cpp.server reuses the longest prompt prefix it shares with the previous
request, and llama.cpp's CPU kernels give slightly different numbers for a
token depending on how many tokens are evaluated with it, so with default
settings 1 of 6 items came out differently depending on request order.
Evaluating one token at a time makes every result independent of what the
server served before (see docs/servers.md).

A stdlib fake server is used only for what a real one cannot be made to do on
demand: 429/5xx then success, an error body that echoes the key, never answering.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from synthempathy.core.errors import UserError
from synthempathy.core.params import GenerationParams, LlamaCppParams, ServerParams, load_params, sampling_of
from synthempathy.core.records import BackendIdentity
from synthempathy.generation.cache import RequestCache, default_cache_path, request_key
from synthempathy.generation.driver import Generator, Item, Step, derive_seed
from synthempathy.generation.llm import Backend, Completion, make_backend
from synthempathy.generation.prompts import Prompt, load_template

from conftest import ROOT

KEY = "sk-test-" + secrets.token_hex(12)  # unique, so searching outputs for it means something
KEY_ENV = "SYNTHEMPATHY_API_KEY"
SERVED = "gemma-3-270m"
SERVER_ARGS = ["--n_ctx", "1024", "--n_threads", "1", "--n_ubatch", "1", "--logits_all", "false"]
"""One thread: token-at-a-time evaluation syncs threads per token, which crawls on a busy 2-core box."""
BRAINSTORM = GenerationParams(prompt="prompts/brainstorm.txt", temperature=1.0, max_tokens=32, stop=["###", "\n", "."])
"""One sentence per story keeps the tests fast and most items inside max_tokens."""
SITUATIONS = ["Losing a job", "A flat tyre on the way to an interview", "A noisy neighbour", "Failing an exam",
              "Moving to a new city", "A sick parent"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """`synthempathy serve` (llama_cpp.server) serving the embedded model, started and killed by the tests."""

    def __init__(self, model_path: Path, log: Path, port: int | None = None):
        self.model_path, self.log, self.port = model_path, log, port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlamaServer:
        cmd = [sys.executable, "-m", "synthempathy", "serve", "--model", str(self.model_path), "--model_alias", SERVED,
               "--host", "127.0.0.1", "--port", str(self.port), "--api_key", KEY, *SERVER_ARGS]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                request = urllib.request.Request(f"{self.base_url}/models", headers={"Authorization": f"Bearer {KEY}"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    models = json.load(response)
                assert [m["id"] for m in models["data"]] == [SERVED]
                assert "synthempathy serve: repacked CPU weights" in self.log.read_text()  # the decision was made
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"llama_cpp.server did not answer within 90 s: {self.log.read_text()[-2000:]}")
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc = None


@pytest.fixture(scope="module")
def server(embedded_model, tmp_path_factory):
    srv = LlamaServer(embedded_model.path, tmp_path_factory.mktemp("server") / "server.log").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)


def openai_llm(base_url: str, **kw) -> ServerParams:
    return ServerParams(backend="openai", base_url=base_url, served_model=SERVED, max_attempts=2, **kw)


def items(names=SITUATIONS) -> list[Item]:
    return [Item(id=f"i{SITUATIONS.index(n)}", values={"situation": n}) for n in names]


STORY = (Step("story"),)


def run(items_, llm, params=BRAINSTORM, steps=STORY, grammar=None, wrap=None):
    """One Generator run with a fresh backend and the test's cache: (outcomes, stats, backend)."""
    template = load_template(ROOT / params.prompt, {"situation"})
    backend = make_backend(llm)
    backend.backoff_base_s = 0.01
    if wrap is not None:
        backend = wrap(backend)
    cache = RequestCache()
    try:
        gen = Generator("brainstorm", template, params, llm, backend, cache, steps, grammar)
        return gen.run(items_), gen.stats, backend
    finally:
        backend.close()
        cache.close()


def fields_and_provenance(outcomes):
    return [(o.item.id, o.fields, o.reason, o.provenance) for o in outcomes]


class InFlight(Backend):
    """Wraps a backend: counts calls in flight at once; optionally runs `after(n)` after the n-th call."""

    def __init__(self, inner: Backend, after=None):
        self.inner, self.after = inner, after
        self.identity, self.concurrency = inner.identity, inner.concurrency
        self.lock, self.now, self.peak, self.calls = threading.Lock(), 0, 0, 0

    def complete(self, prompt, sampling, seed, grammar=None):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            completion = self.inner.complete(prompt, sampling, seed, grammar)
        finally:
            with self.lock:
                self.now -= 1
        with self.lock:
            self.calls += 1
            n = self.calls
        if self.after is not None:
            self.after(n)
        return completion


# -- a real llama_cpp.server ------------------------------------------------

@pytest.mark.model
def test_run_through_server_gives_records_with_provenance_then_cache_hits(server):
    llm = openai_llm(server.base_url)
    first, stats1, backend = run(items(SITUATIONS[:3]), llm)
    assert backend.urls == [f"{server.base_url}/completions"]
    assert stats1.model_calls >= 3 and stats1.cache_hits == 0
    kept = [o for o in first if o.fields is not None]
    assert kept, [o.reason for o in first]
    for outcome in kept:
        prov = outcome.provenance
        assert outcome.fields["story"].strip()
        assert (prov.backend.model, prov.backend.model_sha256, prov.prompt_format) == (SERVED, f"served:{SERVED}",
                                                                                       "completion")
        assert prov.seed == derive_seed(llm.seed, "brainstorm", outcome.item.id, prov.attempts)
        assert prov.sampling == sampling_of(BRAINSTORM).model_dump() and prov.finish_reason == "stop"
        assert 0 < prov.completion_tokens <= BRAINSTORM.max_tokens * prov.attempts
    second, stats2, _ = run(items(SITUATIONS[:3]), llm)
    assert stats2.model_calls == 0 and stats2.cache_hits == stats1.model_calls
    assert fields_and_provenance(second) == fields_and_provenance(first)


@pytest.mark.model
def test_concurrency_keeps_input_order_and_results(server, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHEMPATHY_CACHE_DIR", str(tmp_path / "one"))
    one, stats_one, _ = run(items(), openai_llm(server.base_url))
    monkeypatch.setenv("SYNTHEMPATHY_CACHE_DIR", str(tmp_path / "four"))
    four, stats_four, probe = run(items(), openai_llm(server.base_url, concurrency=4), wrap=InFlight)
    assert probe.peak > 1  # really several requests in flight (the server queues them)
    assert [o.item.id for o in four] == [f"i{n}" for n in range(len(SITUATIONS))]
    assert fields_and_provenance(four) == fields_and_provenance(one)  # also: the server is order-independent
    assert (stats_four.model_calls, stats_four.completion_tokens, stats_four.rejected) == (
        stats_one.model_calls, stats_one.completion_tokens, stats_one.rejected)


@pytest.mark.model
def test_api_key_is_sent_as_bearer_and_written_nowhere(server, isolated_cache, monkeypatch):
    outcomes, stats, _ = run(items(SITUATIONS[:2]), openai_llm(server.base_url))  # the server demands the key
    assert stats.model_calls >= 2
    written = b"".join(p.read_bytes() for p in isolated_cache.iterdir())
    written += json.dumps([o.provenance.model_dump() if o.provenance else None for o in outcomes]).encode()
    written += stats.summary("brainstorm").encode()
    assert default_cache_path().exists() and KEY.encode() not in written and KEY[8:].encode() not in written

    monkeypatch.setenv(KEY_ENV, "sk-wrong-" + secrets.token_hex(8))
    with pytest.raises(UserError) as err:
        run(items(SITUATIONS[3:4]), openai_llm(server.base_url))
    msg = str(err.value)
    assert "HTTP 401" in msg and f"${KEY_ENV}" in msg and server.base_url in msg and "item i3" in msg
    assert "sk-wrong-" not in msg and KEY not in msg and "\n" not in msg
    with pytest.raises(UserError, match=r"HTTP 401: .*no API key sent: \$OTHER_KEY is not set"):
        run(items(SITUATIONS[3:4]), openai_llm(server.base_url, api_key_env="OTHER_KEY"))


@pytest.mark.model
def test_server_errors_grammar_length_and_chat(server):
    huge = " ".join(["worry"] * 1500)
    with pytest.raises(UserError) as err:
        run([Item(id="huge", values={"situation": huge})], openai_llm(server.base_url))
    msg = str(err.value)
    assert f"{server.base_url}/completions: HTTP 400: " in msg and "context" in msg and "\n" not in msg

    grammar = 'root ::= " yes" | " no"\n'
    outcomes, _, _ = run(items(SITUATIONS[:2]), openai_llm(server.base_url), grammar=grammar,
                         params=BRAINSTORM.model_copy(update={"max_tokens": 8}))
    assert all(o.fields["story"] in ("yes", "no") and o.provenance.grammar_sha256 for o in outcomes)

    cut, stats, _ = run(items(SITUATIONS[:1]), openai_llm(server.base_url),
                        params=BRAINSTORM.model_copy(update={"max_tokens": 2, "stop": []}))
    assert cut[0].reason == "truncated" and stats.model_calls == 2 and stats.retries == 1

    chat = make_backend(openai_llm(server.base_url, prompt_format="chat"))
    assert chat.urls == [f"{server.base_url}/chat/completions"]
    reply = chat.complete(Prompt("", "Name one colour."), sampling_of(BRAINSTORM.model_copy(update={"max_tokens": 6})), 7)
    assert reply.prompt_format == "chat" and reply.finish_reason in ("stop", "length")


def one_server_run_then_a_second_server(server, embedded_model, tmp_path, monkeypatch):
    """(outcomes and stats of an uninterrupted run on `server`, a second server started for the test);
    the request cache is switched to a fresh one for what follows."""
    monkeypatch.setenv("SYNTHEMPATHY_CACHE_DIR", str(tmp_path / "uninterrupted"))
    whole, whole_stats, _ = run(items(), openai_llm(server.base_url))
    second = LlamaServer(embedded_model.path, tmp_path / "second.log").start()
    monkeypatch.setenv("SYNTHEMPATHY_CACHE_DIR", str(tmp_path / "after"))
    return whole, whole_stats, second


@pytest.mark.model
def test_server_killed_mid_stage_then_rerun_resumes_and_matches_uninterrupted(server, embedded_model, tmp_path,
                                                                              monkeypatch):
    whole, whole_stats, dying = one_server_run_then_a_second_server(server, embedded_model, tmp_path, monkeypatch)
    try:
        llm = openai_llm(dying.base_url, max_retries=1)
        kill_after_3 = lambda backend: InFlight(backend, after=lambda n: n == 3 and dying.stop())
        with pytest.raises(UserError) as err:
            run(items(), llm, wrap=kill_after_3)
        msg = str(err.value)
        assert msg.startswith("brainstorm (") and "brainstorm.txt, item i" in msg and "\n" not in msg
        assert f"{dying.base_url}/completions: gave up after 2 tries" in msg and "cannot connect" in msg
        assert len(RequestCache()) == 3

        dying.start()  # same port
        again, stats, _ = run(items(), llm)
    finally:
        dying.stop()
    assert stats.cache_hits == 3 and stats.model_calls == whole_stats.model_calls - 3
    assert fields_and_provenance(again) == fields_and_provenance(whole)


@pytest.mark.model
def test_two_servers_share_the_work_and_one_killed_mid_stage_moves_its_work(server, embedded_model, tmp_path,
                                                                             monkeypatch):
    whole, whole_stats, dying = one_server_run_then_a_second_server(server, embedded_model, tmp_path, monkeypatch)
    try:
        llm = openai_llm([dying.base_url, server.base_url], concurrency=2, max_retries=0)
        served_before_kill = []

        def kill_after_2(backend):
            def after(n):
                if n == 2:
                    served_before_kill.extend(backend.served)
                    dying.stop()
            return InFlight(backend, after=after)

        outcomes, stats, probe = run(items(), llm, wrap=kill_after_2)
    finally:
        dying.stop()
    backend = probe.inner
    assert served_before_kill[0] >= 1 and served_before_kill[1] >= 1  # round-robin used both
    assert backend.served[0] == served_before_kill[0] or backend.served[0] == served_before_kill[0] + 1  # one in flight
    assert sum(backend.served) == stats.model_calls == whole_stats.model_calls
    assert [o.item.id for o in outcomes] == [f"i{n}" for n in range(len(SITUATIONS))]
    assert fields_and_provenance(outcomes) == fields_and_provenance(whole)  # whichever server answered


# -- a fake server, for what a real one cannot be made to do --------------------

OK_BODY = {"choices": [{"text": " fine", "finish_reason": "length"}], "usage": {"completion_tokens": 3}}


class FakeServer:
    """Answers POSTs from a script of (status, body, headers) or "hang"; records every request."""

    def __init__(self, script):
        self.script, self.requests = list(script), []
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fake.requests.append((self.path, dict(self.headers), json.loads(body)))
                step = fake.script.pop(0) if fake.script else (200, OK_BODY, {})
                if step == "hang":
                    fake.release.wait(10)
                    return
                status, payload, headers = step
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake():
    servers = []

    def make(*script):
        servers.append(FakeServer(script))
        return servers[-1]

    yield make
    for srv in servers:
        srv.close()


def backend_for(base_url: str, **kw):
    backend = make_backend(openai_llm(base_url, **kw))
    sleeps: list[float] = []
    backend._sleep = sleeps.append
    return backend, sleeps


SAMPLING = sampling_of(BRAINSTORM)
PROMPT = Prompt("Few-shot examples.\n", "Situation: x\nStory:")


def test_429_and_5xx_are_retried_with_backoff_then_succeed(fake):
    srv = fake((429, {"error": {"message": "slow down"}}, {"Retry-After": "3"}), (500, "oops", {}), (200, OK_BODY, {}))
    backend, sleeps = backend_for(srv.base_url, max_retries=3)
    completion = backend.complete(PROMPT, SAMPLING, 1234, grammar='root ::= "a"')
    assert completion == Completion(text=" fine", finish_reason="length", completion_tokens=3, prompt_format="completion")
    assert len(srv.requests) == 3 and len(sleeps) == 2
    assert sleeps[0] == 3.0  # Retry-After beats the 0.25-0.5 s first backoff
    assert backend.backoff_base_s <= sleeps[1] <= 2 * backend.backoff_base_s  # second: base * 2 * [0.5, 1]
    path, headers, body = srv.requests[0]
    assert path == "/v1/completions" and headers["Authorization"] == f"Bearer {KEY}"
    assert body == {"model": SERVED, "prompt": PROMPT.text, "max_tokens": 32, "temperature": 1.0, "top_p": 0.95,
                    "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1, "seed": 1234, "stream": False,
                    "stop": ["###", "\n", "."], "grammar": 'root ::= "a"'}
    assert all(r[2] == body for r in srv.requests)  # the same request, seed included, every time


def test_backoff_doubles_up_to_a_cap():
    backend = make_backend(openai_llm("http://127.0.0.1:9/v1"))
    backend._random.random = lambda: 1.0
    assert [backend.backoff(n) for n in (1, 2, 3, 8, 20)] == [0.5, 1.0, 2.0, 30.0, 30.0]
    backend._random.random = lambda: 0.0
    assert backend.backoff(2) == 0.5 and backend.backoff(2, retry_after=7) == 7 and backend.backoff(1, 999) == 30.0


def test_other_4xx_is_one_line_error_without_retry_and_key_is_masked(fake):
    srv = fake((400, {"error": {"message": "grammar parse error\nat line 1"}}, {}),
               (401, {"error": {"message": f"invalid token {KEY}"}}, {}))
    backend, sleeps = backend_for(srv.base_url)
    with pytest.raises(UserError) as err:
        backend.complete(PROMPT, SAMPLING, 1)
    assert str(err.value) == f"{srv.base_url}/completions: HTTP 400: grammar parse error at line 1"
    assert len(srv.requests) == 1 and sleeps == []
    with pytest.raises(UserError) as err:
        backend.complete(PROMPT, SAMPLING, 1)
    assert KEY not in str(err.value) and "invalid token ***" in str(err.value) and f"${KEY_ENV}" in str(err.value)


def test_connections_are_kept_alive_and_reopened_after_the_server_drops_an_idle_one():
    ports = []

    class KeepAlive(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            ports.append(self.client_address[1])
            data = json.dumps(OK_BODY).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = len(ports) == 3  # hangs up without saying so, as an idle timeout does

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        backend, sleeps = backend_for(f"http://127.0.0.1:{httpd.server_address[1]}/v1", max_retries=0)
        for _ in range(5):
            assert backend.complete(PROMPT, SAMPLING, 1).text == " fine"
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert ports[0] == ports[1] == ports[2] != ports[3] == ports[4]  # one connection, reopened once
    assert backend.served == [5] and sleeps == []  # the reopening cost no retry and no backoff


def test_refused_connection_moves_the_request_to_the_next_server_at_once(fake):
    srv = fake()
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    backend, sleeps = backend_for([dead, srv.base_url], max_retries=0)
    for _ in range(3):
        assert backend.complete(PROMPT, SAMPLING, 1).text == " fine"
    assert backend.served == [0, 3] and sleeps == []  # no retry spent, no backoff: the dead one is skipped
    assert len(srv.requests) == 3

    both_dead, sleeps = backend_for([dead, f"http://127.0.0.1:{free_port()}/v1"], max_retries=1)
    with pytest.raises(UserError) as err:
        both_dead.complete(PROMPT, SAMPLING, 1)
    msg = str(err.value)
    assert msg.startswith("2 servers (") and "gave up after 2 tries" in msg and "cannot connect" in msg
    assert len(sleeps) == 1  # one backoff, before the one retry


def test_requests_alternate_between_servers_and_a_5xx_goes_to_the_other(fake):
    first, second = fake((503, "busy", {})), fake()
    backend, sleeps = backend_for([first.base_url, second.base_url], max_retries=2)
    backend.complete(PROMPT, SAMPLING, 1)  # first answers 503; the retry goes to the second
    assert (len(first.requests), len(second.requests), len(sleeps)) == (1, 1, 1)
    for _ in range(4):
        backend.complete(PROMPT, SAMPLING, 1)
    assert backend.served == [2, 3]  # round-robin over both


def test_gives_up_naming_url_and_last_error(fake):
    srv = fake(*[(503, {"detail": "overloaded"}, {})] * 3)
    backend, sleeps = backend_for(srv.base_url, max_retries=2)
    with pytest.raises(UserError) as err:
        backend.complete(PROMPT, SAMPLING, 1)
    assert str(err.value) == (f"{srv.base_url}/completions: gave up after 3 tries (llm.max_retries=2); "
                              "last error: HTTP 503: overloaded")
    assert len(srv.requests) == 3 and len(sleeps) == 2
    with pytest.raises(UserError, match=r"127\.0\.0\.1:9/v1/completions: gave up after 1 try .*cannot connect"):
        backend_for("http://127.0.0.1:9/v1", max_retries=0)[0].complete(PROMPT, SAMPLING, 1)


def test_a_server_that_never_answers_times_out(fake):
    srv = fake("hang", "hang")
    backend, _ = backend_for(srv.base_url, timeout_s=0.5, max_retries=1)
    start = time.monotonic()
    with pytest.raises(UserError) as err:
        backend.complete(PROMPT, SAMPLING, 1)
    assert time.monotonic() - start < 5
    assert str(err.value).endswith("gave up after 2 tries (llm.max_retries=1); last error: no answer within llm.timeout_s=0.5s")
    assert len(srv.requests) == 2


def test_chat_format_posts_one_user_message(fake):
    srv = fake((200, {"choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                      "usage": {"completion_tokens": 1}}, {}))
    backend, _ = backend_for(srv.base_url, prompt_format="chat")
    assert backend.complete(PROMPT, SAMPLING, 5) == Completion("hi", "stop", 1, "chat")
    path, _, body = srv.requests[0]
    assert path == "/v1/chat/completions" and body["messages"] == [{"role": "user", "content": PROMPT.text}]
    assert "prompt" not in body


def test_a_chat_template_goes_as_messages_and_a_begun_answer_is_continued(fake):
    answer = {"choices": [{"message": {"role": "assistant", "content": " fear"}, "finish_reason": "stop"}],
              "usage": {"completion_tokens": 1}}
    srv = fake((200, answer, {}), (200, answer, {}))
    backend, _ = backend_for(srv.base_url, prompt_format="chat")
    conversation = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "I lost my job."}]
    begun = backend.render_chat(conversation, "Emotion:")
    assert begun.chat and begun.text.endswith("<|assistant|>\nEmotion:")  # what the request cache keys it by
    assert backend.complete(begun, SAMPLING, 5) == Completion(" fear", "stop", 1, "chat")
    _, _, body = srv.requests[0]
    assert body["messages"] == [*conversation, {"role": "assistant", "content": "Emotion:"}]
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    backend.complete(backend.render_chat(conversation, ""), SAMPLING, 5)  # nothing begun: a fresh answer
    _, _, body = srv.requests[1]
    assert body["messages"] == conversation and "continue_final_message" not in body


def test_a_server_cannot_score_a_list_and_says_how_to_turn_it_off(fake):
    srv = fake()
    backend, _ = backend_for(srv.base_url)
    with pytest.raises(UserError, match=r"^the openai backend cannot score a list's entries .*"
                                        r"respond\.use_emotion_list: false"):
        backend.score(PROMPT, [" fear\n"], SAMPLING)
    assert srv.requests == []  # nothing was sent


# -- params ------------------------------------------------------------------

def write_llm(tmp_path: Path, **llm) -> Path:
    import yaml

    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["llm"].update(llm)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


OPENAI = {"backend": "openai", "base_url": "http://gpu-box:8080/v1/", "served_model": "qwen2.5-7b"}


def test_base_url_list_loads_as_several_servers(tmp_path):
    llm = load_params(write_llm(tmp_path, **{**OPENAI, "base_url": ["http://a:1/v1/", "http://b:2/v1"]})).llm
    assert llm.base_urls == ["http://a:1/v1", "http://b:2/v1"]
    assert make_backend(llm).urls == ["http://a:1/v1/completions", "http://b:2/v1/completions"]
    assert load_params(write_llm(tmp_path, **OPENAI)).llm.base_urls == ["http://gpu-box:8080/v1"]


def test_openai_params_load_with_defaults(tmp_path):
    llm = load_params(write_llm(tmp_path, **OPENAI)).llm
    assert llm.base_url == "http://gpu-box:8080/v1"
    assert (llm.concurrency, llm.timeout_s, llm.max_retries, llm.api_key_env, llm.model_sha256) == (
        1, 600.0, 5, KEY_ENV, None)
    backend = make_backend(llm)
    assert backend.identity == BackendIdentity(model="qwen2.5-7b", model_sha256="served:qwen2.5-7b",
                                               format_setting="completion", implementation="openai r1")
    assert make_backend(llm.model_copy(update={"model_sha256": "a" * 64})).identity.model_sha256 == "a" * 64
    assert load_params(write_llm(tmp_path, **OPENAI)).judge_llm == llm  # a server serves the judge too


def test_a_local_judge_model_with_a_server_names_judge_model(tmp_path):
    import yaml

    path = write_llm(tmp_path, **OPENAI)
    data = yaml.safe_load(path.read_text())
    data["judge"]["model"] = "/m/judge.gguf"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    line = path.read_text().splitlines().index("  model: /m/judge.gguf") + 1
    with pytest.raises(UserError) as err:
        load_params(path)
    assert str(err.value) == (f"{path}:{line}: judge.model: a local GGUF, which llm.backend openai does not load; "
                              "every stage, the judge included, uses llm.served_model (leave judge.model at "
                              "'embedded') (got '/m/judge.gguf')")


@pytest.mark.parametrize("llm, key, problem", [
    ({"backend": "openai"}, "llm.base_url", "required with llm.backend openai"),
    ({**OPENAI, "served_model": None}, "llm.served_model", "required with llm.backend openai"),
    ({**OPENAI, "base_url": "gpu-box:8080"}, "llm.base_url", "must start with http:// or https://"),
    ({**OPENAI, "base_url": "http://me:pw@gpu-box/v1"}, "llm.base_url", "must not hold credentials"),
    ({**OPENAI, "n_gpu_layers": -1}, "llm.n_gpu_layers", "only used with llm.backend llama_cpp"),
    ({**OPENAI, "cpu_repack": False}, "llm.cpu_repack", "only used with llm.backend llama_cpp"),
    ({"backend": "vllm"}, "llm.backend", "Input should be 'llama_cpp' or 'openai' (got 'vllm')"),
    ({**OPENAI, "model": "/models/x.gguf"}, "llm.model", "only used with llm.backend llama_cpp"),
    ({**OPENAI, "batch_size": 4}, "llm.batch_size", "llm.concurrency sets the requests in flight"),
    ({**OPENAI, "model_sha256": "abc"}, "llm.model_sha256", "should match pattern"),
    ({**OPENAI, "concurrency": 0}, "llm.concurrency", "greater than or equal to 1"),
    ({"concurrency": 4}, "llm.concurrency", "only used with llm.backend openai"),
    ({"base_url": "http://gpu-box:8080/v1"}, "llm.base_url", "only used with llm.backend openai"),
    ({"api_key_env": "MY_KEY"}, "llm.api_key_env", "only used with llm.backend openai"),
    ({**OPENAI, "base_url": []}, "llm.base_url", "needs at least one server"),
    ({**OPENAI, "base_url": ["http://a:1/v1", "b:2/v1"]}, "llm.base_url", "'b:2/v1' must start with http://"),
    ({**OPENAI, "base_url": ["http://a:1/v1", "http://a:1/v1/"]}, "llm.base_url", "lists a server twice"),
])
def test_openai_params_errors_name_the_key(tmp_path, llm, key, problem):
    path = write_llm(tmp_path, **llm)
    with pytest.raises(UserError) as err:
        load_params(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:") and f": {key}: " in msg and problem in msg and "\n" not in msg


def test_server_and_in_process_backend_never_share_cached_calls(embedded_model):
    """Even serving the same GGUF, a server runs another sampler and other kernels: a warm cache
    must not hand its calls to the in-process backend (or back), or a fresh cache would differ."""
    local = make_backend(LlamaCppParams(prompt_format="completion", batch_size=1)).identity
    remote = make_backend(openai_llm("http://127.0.0.1:9/v1", prompt_format="completion",
                                     model_sha256=embedded_model.sha256)).identity
    assert (remote.model_sha256, remote.format_setting) == (local.model_sha256, local.format_setting)
    assert remote.implementation == "openai r1" and local.implementation.startswith("llama_cpp r1, llama-cpp-python ")
    key = dict(prompt="p", sampling=sampling_of(BRAINSTORM).model_dump(), seed=1, grammar=None)
    assert request_key(backend=local.model_dump(), **key) != request_key(backend=remote.model_dump(), **key)

