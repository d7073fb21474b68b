"""A small local HTTP server for collector tests: routes → status, headers, body, delay.

The real client libraries (httpx, tweepy, praw, Mastodon.py, atproto) talk to it over TCP on
127.0.0.1, so the network is the only thing replaced. A route answers with one ``Reply`` or a
sequence of them (the last one repeats); a reply's body may be bytes, a callable taking the
request, or an iterator of chunks (sent chunked, so 50 MB never sit in memory).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from listener.collectors.base import CollectContext

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture_bytes(platform: str, name: str) -> bytes:
    return (FIXTURES / platform / name).read_bytes()


def fixture_json(platform: str, name: str) -> Any:
    return json.loads(fixture_bytes(platform, name))


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Callable[["Seen"], Any] | Iterable[bytes] | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None, **kw: Any) -> "Reply":
        h = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return cls(status, json.dumps(data).encode("utf-8"), h, **kw)


@dataclass
class Seen:
    """A request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def q(self, key: str) -> str | None:
        v = self.query.get(key)
        return v[0] if v else None


class LocalServer:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.hits: dict[tuple[str, str], int] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, parts.path, parse_qs(parts.query),
                            {k.lower(): v for k, v in self.headers.items()}, body)
                reply = server._next(self.command, parts.path, seen)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body(seen) if callable(reply.body) else reply.body
                if isinstance(payload, Reply):
                    reply, payload = payload, payload.body
                if isinstance(payload, (dict, list)):
                    payload = json.dumps(payload).encode("utf-8")
                if isinstance(payload, str):
                    payload = payload.encode("utf-8")
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    if isinstance(payload, (bytes, bytearray)):
                        if "content-length" not in {k.lower() for k in reply.headers}:
                            self.send_header("Content-Length", str(len(payload)))
                        self.end_headers()
                        if self.command != "HEAD":
                            self.wfile.write(payload)
                    else:  # an iterator of chunks: chunked transfer
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        for chunk in payload:
                            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.write(b"0\r\n\r\n")
                except OSError:  # the client hung up (cap reached, timeout)
                    self.close_connection = True

            do_GET = do_POST = do_HEAD = _handle

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                import sys

                if not isinstance(sys.exc_info()[1], OSError):  # a client hanging up is normal here
                    super().handle_error(request, client_address)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def route(self, path: str, *replies: Reply, method: str = "GET") -> None:
        """Answer ``method path`` with ``replies`` in turn; the last one repeats."""
        self.routes[(method, path)] = list(replies) or [Reply()]
        self.hits[(method, path)] = 0

    def count(self, path: str, method: str = "GET") -> int:
        return self.hits.get((method, path), 0)

    def seen(self, path: str, method: str = "GET") -> list[Seen]:
        return [r for r in self.requests if r.path == path and r.method == method]

    def _next(self, method: str, path: str, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            key = (method, path)
            if key not in self.routes:
                return Reply(404, b"not found", {"Content-Type": "text/plain"})
            i = self.hits[key]
            self.hits[key] = i + 1
            replies = self.routes[key]
            return replies[min(i, len(replies) - 1)]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    s = LocalServer()
    yield s
    s.close()


class Clock:
    """An injected clock: ``sleep`` moves time instead of waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        self.t = (start or datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)).timestamp()
        self.slept: list[float] = []

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, tz=timezone.utc)

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_ctx(clock: Clock | None = None, **kw: Any) -> CollectContext:
    clock = clock or Clock()
    defaults: dict[str, Any] = dict(
        user_agent="krimp-listener/test (+https://example.org; beheer@gemeente.example)",
        timeout_s=5.0, max_wait_s=0.0, now=clock.now, sleep=clock.sleep,
        keyword_sets={"krimp": ("krimp", "school sluit", "dorpshuis", "leegstand")},
    )
    defaults.update(kw)
    return CollectContext(**defaults)


def run(collector: Any, source: Any, state: Any = None) -> list[Any]:
    from listener.models import CursorState

    return list(collector.collect(source, state or CursorState()))


def split(items: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """(posts, checkpoints, warnings)."""
    from listener.models import Checkpoint, Post, Warning_

    return ([i for i in items if isinstance(i, Post)], [i for i in items if isinstance(i, Checkpoint)],
            [i for i in items if isinstance(i, Warning_)])


def state_after(items: list[Any], before: Any = None) -> Any:
    """The CursorState the run loop would store after these items (None fields keep their value)."""
    from listener.models import Checkpoint, CursorState

    st = before or CursorState()
    for i in items:
        if isinstance(i, Checkpoint):
            st = CursorState(cursor=i.cursor if i.cursor is not None else st.cursor,
                             etag=i.etag if i.etag is not None else st.etag,
                             last_modified=i.last_modified if i.last_modified is not None else st.last_modified)
    return st


@pytest.fixture
def kit(clock: Clock) -> Any:
    """Helpers for test modules (with --import-mode=importlib they cannot import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        Reply=Reply, clock=clock, ctx=lambda **kw: make_ctx(clock, **kw), run=run, split=split,
        state_after=state_after, fx=fixture_bytes, fxj=fixture_json, FIXTURES=FIXTURES,
    )
