"""Backend for any OpenAI-compatible completion server (`llm.backend: openai`).

For a GPU box or a serving cluster: llama.cpp's `llama-server --parallel N`,
`python -m llama_cpp.server`, vLLM, several of them behind a load balancer, or
a list of them in llm.base_url. Plain stdlib HTTP (http.client), one blocking
request per call over a kept-alive connection per worker thread and server (no
new TCP connection per request: 1.5x the requests/s of urllib against an instant
server, benchmarks/SCALE.md; proxy environment variables are not used); the
driver (generate.Generator) keeps `llm.concurrency` calls in flight from threads.

What is sent: `prompt_format: completion` (and `auto`, since a server does not
expose its model's chat template) posts the few-shot prompt to
`<base_url>/completions`; `chat` posts the stage's chat template (generation/chat.py)
as `messages` to `<base_url>/chat/completions`, where the server applies its own
template. When the answer has begun (Chain-of-Empathy's "Emotion:", a later step's
lead-in), it is a last assistant message for the server to continue: llama-server
does so by itself, vLLM is asked with `continue_final_message` and
`add_generation_prompt: false`. A stage without a chat template sends its
completion prompt as one user message. Every
request carries `model` (llm.served_model), max_tokens, temperature, top_p,
stop, the per-call `seed` (derived from llm.seed, the stage, the record id and
the attempt, as for the in-process backend), the llama.cpp sampling extras
top_k, min_p and repeat_penalty, and the GBNF text as `grammar` when the stage
has one (llama.cpp servers honour these; other servers may ignore them).
`finish_reason` "length" maps to 'length', anything else to 'stop';
completion_tokens comes from `usage`.

Model identity (provenance and request-cache keys, `identity`): the name is
llm.served_model; the sha256 is llm.model_sha256 when set, else the marker
`served:<served_model>`, which is not a file hash. The implementation is this
client's revision: we cannot see which llama.cpp or vLLM the server runs, so
after upgrading the server give it a new llm.served_model (or delete the request
cache) to regenerate. Calls are never shared with the in-process backend, whose
sampler and kernels differ. The base URL is not part of the identity, so moving
the server or adding replicas keeps the cache; giving different weights the same
served name without model_sha256 would mix their cached results.

Several servers: `llm.base_url` may be a list. Requests go round-robin to the
servers that are up, `llm.concurrency` in flight across all of them. A server
that refuses or drops a connection is marked down for `down_s` seconds and the
request moves at once to the next server (no backoff, no retry counted); after
`down_s` it gets requests again. Which server answered is in no key or record,
so the cache makes the results the same whichever served them.

Retries: HTTP 429 and 5xx, timeouts and connection errors when no other server
is up are retried `llm.max_retries` times with exponential backoff
(`backoff_base_s` doubling up to `backoff_max_s`, times a random factor in
[0.5, 1], at least the server's Retry-After); the same request and seed are
resent, to the next server. Any other 4xx is a one-line UserError with the
status and the server's message.

The API key is read from the environment variable named by llm.api_key_env
(default SYNTHEMPATHY_API_KEY, deliberately not OPENAI_API_KEY so a key meant
for OpenAI is never sent to another server) and only ever put in the
Authorization header: it is not part of params, provenance, cache keys or
metrics, and is masked in any error text a server echoes back.

Determinism: the server decides. Outputs are byte-identical across runs only
if the server's result for a request does not depend on what it served
before; see docs/servers.md for llama_cpp.server, which
reuses the previous request's prompt prefix. The request cache makes every
finished call stable either way.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
import urllib.parse
from typing import Any

from synthempathy.core.errors import UserError
from synthempathy.core.params import SamplingParams, ServerParams
from synthempathy.core.records import BackendIdentity
from synthempathy.generation.llm.base import Backend, Completion
from synthempathy.generation.llm.llama_cpp import sampling_kwargs
from synthempathy.generation.prompts import Prompt

REVISION = 1
"""Bump when a change in this module can alter what a server is asked (the request body);
see llama_cpp.REVISION."""

MESSAGE_CHARS = 300
"""How much of a server's error message goes into our one-line error."""


def _one_line(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _server_message(body: bytes) -> str:
    """The human part of an error body: OpenAI's error.message, FastAPI's detail, or the raw text."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return _one_line(text) or "(empty body)"
    if isinstance(data, dict):
        for key in ("error", "detail", "message"):
            value = data.get(key)
            if isinstance(value, dict) and "message" in value:
                value = value["message"]
            if value:
                return _one_line(value if isinstance(value, str) else json.dumps(value))
    return _one_line(text)


def _retry_after(headers: Any) -> float | None:
    try:
        return max(0.0, float(headers.get("Retry-After")))
    except (TypeError, ValueError, AttributeError):
        return None


class _CannotConnect(Exception):
    """Opening a connection to a server failed (refused, unknown host, unreachable)."""


class OpenAIServerBackend(Backend):
    """Completions from an OpenAI-compatible HTTP server; thread-safe."""

    name = "openai"

    backoff_base_s = 0.5
    backoff_max_s = 30.0

    def __init__(self, params: ServerParams):
        self.params = params
        self.prompt_format = "chat" if params.prompt_format == "chat" else "completion"
        path = "chat/completions" if self.prompt_format == "chat" else "completions"
        self.urls = [f"{base}/{path}" for base in params.base_urls]
        parts = [urllib.parse.urlsplit(url) for url in self.urls]
        self._hosts = [p.netloc for p in parts]
        self._paths = [p.path for p in parts]
        self._connection_classes = [http.client.HTTPSConnection if p.scheme == "https" else http.client.HTTPConnection
                                    for p in parts]
        self._local = threading.local()  # each worker thread keeps its own connection per server
        self.concurrency = params.concurrency
        self._key = os.environ.get(params.api_key_env) or None
        self._lock = threading.Lock()
        self._sleep = time.sleep
        self._random = random.Random()
        self._turn = 0
        self._down_until = [0.0] * len(self.urls)
        self.calls = 0
        self.served = [0] * len(self.urls)
        """Answers per server, in llm.base_url order."""

    @property
    def identity(self) -> BackendIdentity:
        return BackendIdentity(model=self.params.served_model,
                               model_sha256=self.params.model_sha256 or f"served:{self.params.served_model}",
                               format_setting=self.prompt_format, implementation=f"openai r{REVISION}")

    down_s = 30.0
    """How long a server that refused or dropped a connection gets no requests."""

    def _up(self, avoid: int | None = None) -> list[int]:
        now = time.monotonic()
        return [i for i in range(len(self.urls)) if self._down_until[i] <= now and i != avoid]

    def _pick(self, avoid: int | None = None) -> int:
        """The next server round-robin among those up (`avoid` only if no other is); with none
        up, the one whose down time ends first."""
        with self._lock:
            up = self._up(avoid) or self._up()
            if not up:
                return min(range(len(self.urls)), key=lambda i: self._down_until[i])
            self._turn += 1
            return up[(self._turn - 1) % len(up)]

    def _mark_down(self, index: int) -> None:
        with self._lock:
            self._down_until[index] = time.monotonic() + self.down_s

    def _where(self) -> str:
        return self.urls[0] if len(self.urls) == 1 else f"{len(self.urls)} servers ({', '.join(self.urls)})"

    # -- the request -------------------------------------------------------
    def _body(self, prompt: Prompt, sampling: SamplingParams, seed: int, grammar: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.params.served_model,
            **sampling_kwargs(sampling),  # llama.cpp's server takes the same names as create_completion
            "seed": seed,
            "stream": False,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if grammar is not None:
            body["grammar"] = grammar
        if prompt.messages:
            body["messages"] = [{"role": role, "content": text} for role, text in prompt.messages]
            if prompt.messages[-1][0] == "assistant":  # continue the answer: llama-server does; vLLM is asked to
                body.update(continue_final_message=True, add_generation_prompt=False)
        elif self.prompt_format == "chat":  # a stage with no chat template: its text as one user turn
            body["messages"] = [{"role": "user", "content": prompt.text}]
        else:
            body["prompt"] = prompt.text
        return body

    def render_chat(self, messages: list[dict[str, str]], answer: str, item: int | None = None) -> Prompt:
        """The conversation as `messages`, the answer so far as a last assistant turn; the text the
        request cache keys it by marks each turn's role."""
        turns = [(m["role"], m["content"]) for m in messages] + ([("assistant", answer)] if answer else [])
        text = "".join(f"<|{role}|>\n{text}\n" for role, text in (turns[:-1] if answer else turns))
        return Prompt(prefix="", suffix=f"{text}<|assistant|>\n{answer}", chat=True, messages=tuple(turns))

    def complete(self, prompt: Prompt, sampling: SamplingParams, seed: int, grammar: str | None = None) -> Completion:
        url, data = self._post(self._body(prompt, sampling, seed, grammar))
        field = "message.content" if self.prompt_format == "chat" else "text"
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] if self.prompt_format == "chat" else choice["text"]
        except (KeyError, IndexError, TypeError):
            raise UserError(self._redact(f"{url}: answer has no choices[0].{field}: {_one_line(json.dumps(data))}")) from None
        usage = data.get("usage") or {}
        with self._lock:
            self.calls += 1
            self.served[self.urls.index(url)] += 1
        return Completion(
            text=text or "",
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            completion_tokens=int(usage.get("completion_tokens") or 0),
            prompt_format=self.prompt_format,
        )

    # -- HTTP with retries -------------------------------------------------
    def _post(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """(the URL that answered, its JSON answer)."""
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        tries = self.params.max_retries + 1
        problem, retry_after, attempt, index, wait = "", None, 0, None, False
        while attempt < tries:
            if wait:
                self._sleep(self.backoff(attempt, retry_after))
            index = self._pick(avoid=index)
            url, retry_after = self.urls[index], None
            failed_over = False
            try:
                status, reply_headers, raw = self._send(index, payload, headers)
            except _CannotConnect as exc:
                problem, failed_over = f"cannot connect: {exc.__cause__}", True
            except TimeoutError:
                problem = f"no answer within llm.timeout_s={self.params.timeout_s:g}s"
            except (OSError, http.client.HTTPException) as exc:
                problem, failed_over = f"connection lost: {type(exc).__name__}: {exc}".rstrip(": "), True
            else:
                if status == 200:
                    return url, self._parse(url, raw)
                message = _server_message(raw)
                if status != 429 and status < 500:
                    raise UserError(self._redact(f"{url}: HTTP {status}: {message}{self._hint(status)}"))
                problem, retry_after = f"HTTP {status}: {message}", _retry_after(reply_headers)
            if len(self.urls) > 1:
                problem = f"{url}: {problem}"
            if failed_over:
                self._mark_down(index)
                with self._lock:
                    wait = not self._up()
                if not wait:
                    continue  # another server is up: the request moves there now, no retry spent
            attempt, wait = attempt + 1, True
        raise UserError(self._redact(
            f"{self._where()}: gave up after {tries} {'try' if tries == 1 else 'tries'} "
            f"(llm.max_retries={self.params.max_retries}); last error: {problem}"
        ))

    def _send(self, index: int, payload: bytes, headers: dict[str, str]) -> tuple[int, Any, bytes]:
        """POST to server `index` over this thread's kept-alive connection: (status, headers, body).

        A reused connection that the server closed while it sat idle fails on first use; it is
        reopened once, which is no failure of the server. Connecting at all failing raises
        _CannotConnect.
        """
        connections = self._local.__dict__.setdefault("connections", {})
        while True:
            connection = connections.pop(index, None)
            reused = connection is not None
            if not reused:
                connection = self._connection_classes[index](self._hosts[index], timeout=self.params.timeout_s)
                try:
                    connection.connect()
                except TimeoutError:
                    raise
                except OSError as exc:
                    raise _CannotConnect() from exc
            try:
                connection.request("POST", self._paths[index], body=payload, headers=headers)
                response = connection.getresponse()
                raw = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                if reused:
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            if response.will_close:
                connection.close()
            else:
                connections[index] = connection
            return response.status, response.headers, raw

    def _parse(self, url: str, raw: bytes) -> dict[str, Any]:
        try:
            data = json.loads(raw)
        except ValueError:
            raise UserError(self._redact(f"{url}: answer is not JSON: {_one_line(raw.decode('utf-8', 'replace'))}")) from None
        if not isinstance(data, dict):
            raise UserError(self._redact(f"{url}: answer is not a JSON object: {_one_line(raw.decode('utf-8', 'replace'))}"))
        return data

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        delay *= 0.5 + 0.5 * self._random.random()
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max_s))
        return delay

    def _hint(self, status: int) -> str:
        env = self.params.api_key_env
        if status in (401, 403):
            return f" (check the API key in ${env})" if self._key else f" (no API key sent: ${env} is not set)"
        if status == 404:
            return " (check llm.base_url, which should end in /v1, and llm.served_model)"
        return ""

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text
