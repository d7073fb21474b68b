"""Two `listener run --once` processes at once, and a lease left behind by a killed process.

Real subprocesses against one SQLite file and one PostgreSQL database, reading feeds from a
local HTTP server that answers slowly enough for the runs to overlap.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from sqlalchemy import func, select

from listener.config import load_config
from listener.pipeline import Pipeline
from listener.store.db import open_store, session_scope
from listener.store.models import Post as PostRow
from listener.store.models import Run, SourceState



def write_sources(tmp_path: Path, url: str, n: int, schedule: str = "1h", concurrency: int = 4) -> Path:
    cfg = {
        "settings": {"concurrency": concurrency, "timeout_s": 30, "batch_size": 2},
        "sources": [
            {"id": f"feed-{i}", "kind": "rss", "url": f"{url}/feed/{i}.xml", "schedule": schedule,
             "languages": [], "keep_irrelevant": True}
            for i in range(n)
        ],
    }
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def listener_cmd(db_url: str, sources: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "listener", "--db", db_url, "--sources", str(sources), *args]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LISTENER_DATABASE_URL", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def migrated(db_url: str) -> Iterator[str]:
    """A database with the schema (as `listener db upgrade` leaves it), no sources yet."""
    engine, _ = open_store(db_url)
    engine.dispose()
    yield db_url


@pytest.mark.slow
def test_two_runs_at_once_collect_every_source_exactly_once(tmp_path: Path, migrated: str, feed_server) -> None:
    n = 8
    with feed_server(delay=0.3) as server:
        sources = write_sources(tmp_path, server.url, n)
        procs = [subprocess.Popen(listener_cmd(migrated, sources, "run", "--once"), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=subprocess_env(), cwd=tmp_path)
                 for _ in range(2)]
        outs = [p.communicate(timeout=server.TIMEOUT_S) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, (out, err)
    # Every feed was fetched exactly once, by one of the two processes.
    assert sorted(server.hits.values()) == [1] * n, server.hits
    engine, factory = open_store(migrated)
    with session_scope(factory) as s:
        runs = list(s.scalars(select(Run)))
        n_posts = s.scalar(select(func.count()).select_from(PostRow))
        n_distinct = s.scalar(select(func.count(func.distinct(PostRow.external_id))))
        leases = [st.lease_owner for st in s.scalars(select(SourceState))]
    engine.dispose()
    assert sorted(r.source_id for r in runs) == sorted(f"feed-{i}" for i in range(n))
    assert {r.status for r in runs} == {"ok"} and all(r.finished_at for r in runs)
    assert sum(r.duplicate for r in runs) == 0
    assert n_posts == n_distinct == n * server.ITEMS
    assert leases == [None] * n  # every lease given back
    # The two processes really overlapped: work was shared or seen as locked / already done.
    owners = {r.owner for r in runs}
    combined = outs[0][0] + outs[1][0]
    assert len(owners) == 2 or "locked" in combined or "not due yet" in combined


@pytest.mark.slow
def test_lease_of_a_killed_process_expires_and_the_next_run_collects(tmp_path: Path, migrated: str,
                                                                     feed_server) -> None:
    with feed_server() as server:
        sources = write_sources(tmp_path, server.url, 1, schedule="5m")
        server.gate.clear()  # the feed does not answer: the run hangs with its lease taken
        # The run loop itself in a child process (the CLI would add seconds loading the classifier).
        script = ("import sys; from listener.config import load_config; from listener.pipeline import Pipeline; "
                  "from listener.store.db import open_store; _, f = open_store(sys.argv[1]); "
                  "Pipeline(load_config(sys.argv[2]), f, None).run()")
        proc = subprocess.Popen([sys.executable, "-c", script, migrated, str(sources)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=subprocess_env(), cwd=tmp_path)
        try:
            assert server.requested.wait(server.TIMEOUT_S), "the run never fetched the feed"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(server.TIMEOUT_S)
        server.gate.set()
        cfg = load_config(sources)
        engine, factory = open_store(migrated)
        try:
            with session_scope(factory) as s:
                state = s.get(SourceState, "feed-0")
                assert state.lease_owner and state.lease_owner.endswith(f":{proc.pid}")
                stale = state.lease_expires_at
            # Right after the crash the lease still holds: the source is locked, not failed.
            now = Pipeline(cfg, factory, None).run(["feed-0"])
            assert [(r.status, r.failed) for r in now.results] == [("locked", False)] and now.exit_code == 0
            # Once it has expired (and the source is due again), the next run takes it over.
            later = stale + timedelta(minutes=5)
            res = Pipeline(cfg, factory, None, clock=lambda: later).run()
            assert [(r.source_id, r.status, r.new) for r in res.results] == [("feed-0", "ok", server.ITEMS)]
            with session_scope(factory) as s:
                runs = {r.owner.endswith(f":{proc.pid}"): r for r in s.scalars(select(Run))}
                state = s.get(SourceState, "feed-0")
                assert state.lease_owner is None and state.etag == '"feed-0"'
            assert runs[True].status == "interrupted" and runs[True].finished_at is not None
            assert runs[False].status == "ok"
        finally:
            engine.dispose()
