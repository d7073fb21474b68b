"""The APScheduler daemon: its jobs and triggers, and a real `listener schedule` stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from listener.config import load_config
from listener.pipeline import Pipeline
from listener.schedules import TZ
from listener.scheduling import PURGE, WEEKLY_REPORT, Daemon, ScheduleTrigger, build_scheduler, purge_job, weekly_report_job
from listener.store.db import open_store, session_scope
from listener.store.models import Post as PostRow
from listener.store.models import Run, SourceState



def _ok_runs(db: Path) -> int:
    """Runs committed as ok, read by a separate read-only connection (0 before the schema exists)."""
    import sqlite3

    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT count(*) FROM runs WHERE status = 'ok'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _write_sources(tmp_path: Path, url: str, schedules: list[str], concurrency: int = 2) -> Path:
    srcs = [{"id": f"feed-{i}", "kind": "rss", "url": f"{url}/feed/{i}.xml", "schedule": sch,
             "languages": [], "keep_irrelevant": True} for i, sch in enumerate(schedules)]
    srcs.append({"id": "paused", "kind": "rss", "url": f"{url}/feed/99.xml", "enabled": False})
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"settings": {"concurrency": concurrency, "batch_size": 2}, "sources": srcs}),
                    encoding="utf-8")
    return path


def test_jobs_per_source_with_options_and_first_run_from_history(tmp_path: Path, sqlite_store) -> None:
    _, factory = sqlite_store
    cfg = load_config(_write_sources(tmp_path, "http://127.0.0.1:9", ["30m", "0 6 * * 1"]))
    with session_scope(factory) as s:  # feed-0 ran 10 minutes ago: next due in 20 minutes
        from listener.store import queries

        queries.sync_sources(s, cfg.sources)
        queries.get_state(s, "feed-0").last_attempt_at = datetime.now(timezone.utc) - timedelta(minutes=10)
    now = datetime.now(timezone.utc)
    daemon = Daemon(cfg, factory, None, tmp_path / "reports")
    scheduler = build_scheduler(daemon, now=now)
    scheduler.start(paused=True)  # job defaults are applied when the jobs are stored
    try:
        jobs = {j.id: j for j in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    assert set(jobs) == {"collect:feed-0", "collect:feed-1", "weekly-report", "purge", "config-check"}
    j0, j1 = jobs["collect:feed-0"], jobs["collect:feed-1"]
    for j in (j0, j1):
        assert j.max_instances == 1 and j.coalesce and j.misfire_grace_time >= 60
    assert j0.misfire_grace_time == 15 * 60 and j0.trigger.jitter == 45  # half the 90 s tolerance of 30m
    assert abs((j0.next_run_time - (now + timedelta(minutes=20))).total_seconds()) < 1
    assert abs((j1.next_run_time - now).total_seconds()) < 1  # never run: due at once
    assert isinstance(j1.trigger, ScheduleTrigger)
    assert jobs["weekly-report"].next_run_time.astimezone(TZ).strftime("%a %H:%M") == "Mon 06:00"


@pytest.mark.parametrize("after,expected", [
    (datetime(2026, 3, 24, tzinfo=timezone.utc), datetime(2026, 3, 30, 4, 0, tzinfo=timezone.utc)),  # CEST
    (datetime(2026, 10, 20, tzinfo=timezone.utc), datetime(2026, 10, 26, 5, 0, tzinfo=timezone.utc)),  # CET
])
def test_weekly_report_trigger_monday_0600_across_dst(after: datetime, expected: datetime) -> None:
    trig = ScheduleTrigger(WEEKLY_REPORT)
    first = trig.get_next_fire_time(None, after)
    assert first == expected
    assert trig.get_next_fire_time(first, first).astimezone(TZ).strftime("%a %H:%M") == "Mon 06:00"
    assert ScheduleTrigger(PURGE).get_next_fire_time(None, after).astimezone(TZ).strftime("%H:%M") == "04:15"


def test_report_job_writes_last_week_into_its_own_folder_and_purge_job_runs(tmp_path: Path, sqlite_store) -> None:
    from listener.reports.weeks import last_complete_week

    _, factory = sqlite_store
    cfg = load_config(_write_sources(tmp_path, "http://127.0.0.1:9", ["1h"]))
    paths = weekly_report_job(factory, tmp_path / "reports")
    week_dir = tmp_path / "reports" / last_complete_week().label
    names = {p.name for p in paths}
    assert {"overzicht.csv", "berichten.csv", "initiatieven.csv", "dekking.csv", "rapport.html"} <= names
    assert all(p.parent == week_dir and p.exists() for p in paths)
    result = purge_job(factory, cfg)
    assert result is not None and not result.dry_run


def test_stop_request_reaches_running_pipelines(tmp_path: Path, sqlite_store) -> None:
    _, factory = sqlite_store
    cfg = load_config(_write_sources(tmp_path, "http://127.0.0.1:9", ["1h"]))
    made: list[Pipeline] = []

    def factory_hook(*args, **kwargs) -> Pipeline:  # noqa: ANN002, ANN003
        pipe = Pipeline(*args, **kwargs)
        made.append(pipe)
        daemon.request_stop()  # SIGTERM arrives while the job is starting
        return pipe

    daemon = Daemon(cfg, factory, None, tmp_path, pipeline_factory=factory_hook)
    daemon.collect("feed-0")
    assert made and made[0].stop.is_set()
    with session_scope(factory) as s:  # stopped before anything was collected
        assert s.scalar(select(func.count()).select_from(Run)) == 0
    daemon.collect("feed-0")  # after the stop no job starts
    assert len(made) == 1


@pytest.mark.slow
def test_daemon_stops_cleanly_on_sigterm_mid_batch(tmp_path: Path, feed_server) -> None:
    with feed_server(delay=1.0) as feeds:
        sources = _write_sources(tmp_path, feeds.url, ["1h"] * 6, concurrency=2)
        db_url = f"sqlite:///{tmp_path / 'listener.db'}"
        env = {k: v for k, v in os.environ.items() if k != "LISTENER_DATABASE_URL"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "listener", "--db", db_url, "--sources", str(sources), "--log-format", "json",
             "schedule", "--reports-dir", str(tmp_path / "reports")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        try:
            deadline = time.monotonic() + feeds.TIMEOUT_S
            # Two sources committed and more in flight (each answer takes a second): then SIGTERM.
            while ((_ok_runs(tmp_path / "listener.db") < 2 or sum(feeds.hits.values()) < 3)
                   and proc.poll() is None and time.monotonic() < deadline):
                time.sleep(0.05)
            assert proc.poll() is None, proc.communicate()
            assert _ok_runs(tmp_path / "listener.db") >= 2, "the daemon never got going"
            proc.send_signal(signal.SIGTERM)  # two feeds done, more in flight
            _, err = proc.communicate(timeout=feeds.TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any("SIGTERM received" in x["message"] for x in logs)
    assert any(x["message"] == "scheduler stopped cleanly" for x in logs)
    run_lines = [x for x in logs if x.get("source_id") and "elapsed_s" in x]
    assert run_lines and all(isinstance(x["n_posts"], int) for x in run_lines)
    engine, factory = open_store(db_url)
    with session_scope(factory) as s:
        runs = list(s.scalars(select(Run)))
        states = {st.source_id: st for st in s.scalars(select(SourceState))}
        per_source = dict(s.execute(select(PostRow.source_id, func.count()).group_by(PostRow.source_id)).all())
    engine.dispose()
    assert runs and all(r.finished_at is not None and r.status != "running" for r in runs)
    statuses = Counter(r.status for r in runs)
    assert statuses["ok"] >= 2 and set(statuses) <= {"ok", "interrupted"}
    assert statuses["interrupted"] >= 1  # the batch in hand was stopped, not thrown away
    assert len(runs) < 6  # sources not started yet stayed for the next start
    for sid, st in states.items():
        # The cursor (ETag) is stored only with every post it covers; nothing left leased.
        assert st.lease_owner is None
        if st.etag:
            assert per_source.get(sid) == feeds.ITEMS
    for r in runs:
        assert (r.status == "ok") == bool(states[r.source_id].etag)
        assert r.new == per_source.get(r.source_id, 0)


@pytest.mark.slow
def test_run_once_stops_cleanly_on_sigterm_mid_batch(tmp_path: Path, feed_server) -> None:
    with feed_server(delay=1.0) as feeds:
        sources = _write_sources(tmp_path, feeds.url, ["1h"] * 6, concurrency=2)
        db_url = f"sqlite:///{tmp_path / 'listener.db'}"
        env = {k: v for k, v in os.environ.items() if k != "LISTENER_DATABASE_URL"}
        env["LISTENER_CLASSIFIER"] = "off"  # storage is what is under test; loading costs seconds
        proc = subprocess.Popen(
            [sys.executable, "-m", "listener", "--db", db_url, "--sources", str(sources), "run", "--once", "--all"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        try:
            deadline = time.monotonic() + feeds.TIMEOUT_S
            while sum(feeds.hits.values()) < 3 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert proc.poll() is None, proc.communicate()
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=feeds.TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert "SIGTERM received" in err and "Traceback" not in err
    assert "interrupted" in out  # the summary table says which sources were cut short
    engine, factory = open_store(db_url)
    with session_scope(factory) as s:
        runs = list(s.scalars(select(Run)))
        states = {st.source_id: st for st in s.scalars(select(SourceState))}
        per_source = dict(s.execute(select(PostRow.source_id, func.count()).group_by(PostRow.source_id)).all())
    engine.dispose()
    assert runs and all(r.finished_at is not None for r in runs)
    assert {r.status for r in runs} <= {"ok", "interrupted"} and any(r.status == "interrupted" for r in runs)
    for r in runs:
        st = states[r.source_id]
        assert st.lease_owner is None
        assert r.new == per_source.get(r.source_id, 0)
        if st.etag:  # a cursor only with every post it covers
            assert per_source.get(r.source_id) == feeds.ITEMS
