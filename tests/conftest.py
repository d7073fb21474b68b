"""Shared fixtures: the store on SQLite and on PostgreSQL (a scratch database per test run)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest

PG_ADMIN_URL = os.environ.get("LISTENER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def real_tagger():  # noqa: ANN201
    """The classifier, loaded once for the run (seconds): for tests whose posts must be tagged."""
    from listener.tagging import load_tagger

    return load_tagger()


@pytest.fixture(autouse=True)
def _pseudonym_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never write a key file into the working directory.
    monkeypatch.setenv("LISTENER_PSEUDONYM_KEY", "test-key-0123456789abcdef")


def _pg_unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"PostgreSQL is required under CI=true but {reason}")
    pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432 ({reason})")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh scratch database on the local PostgreSQL, dropped at the end of the session."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    name = f"listener_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        _pg_unavailable(str(exc.orig).splitlines()[0] if exc.orig else str(exc))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_pg(url: str) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL, once on an SQLite file and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'listener.db'}"
    url = request.getfixturevalue("pg_server_url")
    _reset_pg(url)
    return url


@pytest.fixture
def store(db_url: str):  # noqa: ANN201
    """(engine, session factory) on a migrated database, both backends."""
    from listener.store.db import open_store

    engine, factory = open_store(db_url)
    yield engine, factory
    engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path):  # noqa: ANN201
    from listener.store.db import open_store

    engine, factory = open_store(f"sqlite:///{tmp_path / 'listener.db'}")
    yield engine, factory
    engine.dispose()


FEED_ITEMS = 4  # entries per feed of FeedServer
FEED_TIMEOUT_S = 90


def feed_xml(n: int) -> bytes:
    """RSS feed number ``n`` of FeedServer: FEED_ITEMS entries about a village."""
    items = "".join(
        f"<item><title>Dorpshuis {n} bericht {i}</title><link>https://example.org/{n}/{i}</link>"
        f"<guid>f{n}-{i}</guid><description>De buurtbus in dorp {n} rijdt niet meer ({i}).</description></item>"
        for i in range(FEED_ITEMS)
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {n}</title>'
            f"{items}</channel></rss>").encode()


class FeedServer:
    """A local feed host: /feed/N.xml after ``delay`` seconds, with an ETag.

    Counts requests per path (``hits``), the most answered at once (``max_in_flight``) and when
    each was answered (``spans``); ``gate`` can hold answers back. A context manager.
    """

    ITEMS = FEED_ITEMS
    TIMEOUT_S = FEED_TIMEOUT_S

    def __init__(self, delay: float = 0.0) -> None:
        import threading
        import time
        from collections import Counter
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.delay = delay
        self.hits: Counter[str] = Counter()
        self.requested = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self.in_flight = self.max_in_flight = 0
        self.spans: list[tuple[float, float]] = []
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                with lock:
                    server.hits[self.path] += 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                start = time.monotonic()
                try:
                    server.requested.set()
                    server.gate.wait(FEED_TIMEOUT_S)
                    time.sleep(server.delay)  # a slow feed host
                    n = int(self.path.rsplit("/", 1)[-1].split(".")[0])
                    body = feed_xml(n)
                    self.send_response(200)
                    self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("ETag", f'"feed-{n}"')
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with lock:
                        server.in_flight -= 1
                        server.spans.append((start, time.monotonic()))

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FeedServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def feed_server() -> type[FeedServer]:
    """The FeedServer class: ``with feed_server(delay=0.3) as feeds: ... feeds.url ...``."""
    return FeedServer
