"""A small real OpenAI-compatible server for the endpoint-backend tests (stdlib HTTP, its own thread).

It answers POST /v1/chat/completions like vLLM or `transformers serve` do, and can misbehave on
purpose: `mode` "ok", "slow" (answers after `delay` seconds), "malformed" (200 with no choices),
"not_json", or "flaky" (HTTP 503 for the first `failures` requests, then ok).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class StubState:
    mode: str = "ok"
    delay: float = 2.0
    failures: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def answer_text(model: str, messages: list[dict[str, str]]) -> str:
    return f"[{model}] answer to: {messages[-1]['content']}"


class _Handler(BaseHTTPRequestHandler):
    state: StubState

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        state = self.state
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with state.lock:
            state.requests.append({"body": body, "authorization": self.headers.get("Authorization")})
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            failing = state.mode == "flaky" and len(state.requests) <= state.failures
        try:
            self._answer(state, body, failing)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _answer(self, state: StubState, body: dict[str, Any], failing: bool) -> None:
        time.sleep(state.delay if state.mode == "slow" else 0.02)
        if failing:
            return self._send(503, b'{"error": "warming up"}')
        if state.mode == "malformed":
            return self._send(200, b'{"id": "x", "choices": []}')
        if state.mode == "not_json":
            return self._send(200, b"<html>proxy error</html>")
        text = answer_text(body["model"], body["messages"])
        data = {"id": "stub", "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                "usage": {"completion_tokens": len(text.split()), "prompt_tokens": 3, "total_tokens": 3 + len(text.split())}}
        return self._send(200, json.dumps(data).encode())


class OpenAIStub:
    """`with OpenAIStub() as stub:` serves on 127.0.0.1 at stub.base_url until the block ends."""

    def __init__(self, **state: Any) -> None:
        self.state = StubState(**state)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> OpenAIStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def unused_base_url() -> str:
    """A base URL where nothing listens (the port was free a moment ago)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
