"""How many requests per second the generation driver can push through `llm.backend: openai`.

Against an instant local server (a stdlib HTTP/1.1 server answering every POST with a
fixed completion), so the figure is the client's own ceiling: everything but the model.
Compared with a bare thread pool doing only the HTTP round trip (urllib, as the backend
uses). Both sides share this machine's CPUs, so the figures are a lower bound for a
real server on another box. Results: benchmarks/SCALE.md.

    python benchmarks/client_ceiling.py --requests 4000 --concurrency 64
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

ANSWER = json.dumps({"choices": [{"text": " A short story.", "finish_reason": "stop"}],
                     "usage": {"completion_tokens": 4}}).encode()


class Instant(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    """A listen backlog for 64+ clients connecting at once (the default 5 resets connections)."""


def start_server() -> tuple[ThreadingHTTPServer, str]:
    httpd = Server(("127.0.0.1", 0), Instant)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/v1"


def bare(base_url: str, body: bytes, requests: int, concurrency: int) -> float:
    """Requests per second of a plain urllib thread pool posting `body`."""
    def one(_):
        request = urllib.request.Request(f"{base_url}/completions", data=body,
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            json.loads(response.read())

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests)))
    return requests / (time.perf_counter() - start)


def driver(base_url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """(requests per second of the Generator through the openai backend with an empty request
    cache, the same re-run with every request cached)."""
    from synthempathy.core.params import GenerationParams, ServerParams
    from synthempathy.generation.cache import RequestCache
    from synthempathy.generation.driver import Generator, Item, Step
    from synthempathy.generation.llm import make_backend
    from synthempathy.generation.prompts import load_template

    params = GenerationParams(prompt="prompts/brainstorm.txt", max_tokens=32, stop=["\n"])
    llm = ServerParams(backend="openai", base_url=base_url, served_model="instant", concurrency=concurrency,
                    max_attempts=1)
    template = load_template(ROOT / params.prompt, {"situation"})
    items = [Item(id=f"i{n}", values={"situation": f"Situation number {n}"}) for n in range(requests)]
    rates = []
    with tempfile.TemporaryDirectory() as cache_dir:
        for _ in range(2):
            cache = RequestCache(Path(cache_dir) / "requests.sqlite")
            backend = make_backend(llm)
            generator = Generator("brainstorm", template, params, llm, backend, cache, (Step("story"),))
            start = time.perf_counter()
            outcomes = generator.run(items)
            rates.append(requests / (time.perf_counter() - start))
            assert all(o.fields for o in outcomes)
            cache.close()
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    httpd, base_url = start_server()
    prompt = (ROOT / "prompts/brainstorm.txt").read_text()
    body = json.dumps({"model": "instant", "prompt": prompt, "max_tokens": 32, "seed": 1}).encode()
    bare(base_url, body, 200, args.concurrency)  # warm-up
    plain = bare(base_url, body, args.requests, args.concurrency)
    cold, cached = driver(base_url, args.requests, args.concurrency)
    httpd.shutdown()
    print(json.dumps({
        "cpus": os.cpu_count(), "requests": args.requests, "concurrency": args.concurrency,
        "bare_urllib_req_per_s": round(plain), "driver_req_per_s": round(cold),
        "driver_cached_req_per_s": round(cached), "driver_over_bare": round(cold / plain, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
