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
