"""Faults: SIGKILL during a run, a read-only or full database, an unreachable server."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from listener.cli import main

FEEDS, ITEMS = 4, 150
REPO = Path(__file__).resolve().parent.parent


def _write_feeds(d: Path, batch_size: int = 5) -> int:
    lines = ["settings:", f"  batch_size: {batch_size}", "sources:"]
    for f in range(FEEDS):
        items = "".join(
            f"<item><title>Bericht {f}-{i}: de bus naar het dorp rijdt niet meer</title><guid>g{f}-{i}</guid>"
            f"<pubDate>Mon, 23 Nov 2026 10:{i % 60:02d}:00 +0100</pubDate>"
            f"<description>Het dorp is boos over de bus, zegt bericht {i}.</description></item>"
            for i in range(ITEMS)
        )
        (d / f"feed{f}.xml").write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>f{f}</title>'
                                        f"{items}</channel></rss>", encoding="utf-8")
        lines += [f"  - id: feed{f}", "    kind: rss", f"    url: feed{f}.xml", "    keep_irrelevant: true",
                  "    languages: []"]
    (d / "sources.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return FEEDS * ITEMS


# Storage faults do not depend on the classifier, and loading it costs seconds per process; these
# runs use the supported collector-only mode (LISTENER_CLASSIFIER=off: posts stored untagged).


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, LISTENER_PSEUDONYM_KEY="test-key-0123456789abcdef", PYTHONUNBUFFERED="1", **extra)
    env["LISTENER_CLASSIFIER"] = "off"
    env.pop("LISTENER_DATABASE_URL", None)
    return env


@pytest.fixture
def no_classifier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISTENER_CLASSIFIER", "off")


def _listener(d: Path, db: Path, *args: str, **popen) -> subprocess.Popen:  # noqa: ANN003
    return subprocess.Popen(
        [sys.executable, "-m", "listener", "--db", f"sqlite:///{db}", "--sources", str(d / "sources.yaml"), *args],
        cwd=d, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen,
    )


def _count(db: Path) -> tuple[int, int]:
    """(posts, distinct (source, external id)) read by a separate connection, as an observer."""
    if not db.exists():
        return 0, 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            n, distinct = con.execute(
                "SELECT count(*), count(DISTINCT source_id || '|' || external_id) FROM posts").fetchone()
        finally:
            con.close()
        return n, distinct
    except sqlite3.OperationalError:
        return 0, 0  # schema not there yet


def _kill_after(d: Path, db: Path, n: int, limit_s: float = 60) -> int:
    proc = _listener(d, db, "run", "--once", "--all")
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if _count(db)[0] >= n or proc.poll() is not None:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    return _count(db)[0]


def _leases_expire(db: Path) -> None:
    # A killed run keeps its leases until they expire (10 minutes); the next cron run comes later.
    con = sqlite3.connect(db)
    con.execute("UPDATE source_state SET lease_expires_at = '2000-01-01 00:00:00.000000' WHERE lease_owner IS NOT NULL")
    con.commit()
    con.close()


def test_sigkill_at_several_points_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    total = _write_feeds(tmp_path)
    db = tmp_path / "listener.db"
    seen: list[int] = []
    for n in (1, total // 2):
        stored, distinct = _kill_after(tmp_path, db, n), _count(db)[1]
        _leases_expire(db)
        assert stored == distinct  # nothing duplicated
        assert stored >= n and (not seen or stored >= seen[-1])  # nothing committed was lost
        seen.append(stored)
    assert seen[-1] < total, "the run finished before it could be killed; make the feeds larger"
    proc = _listener(tmp_path, db, "run", "--once", "--all")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert _count(db) == (total, total)
    con = sqlite3.connect(db)
    new_in_last_run = con.execute("SELECT sum(new) FROM runs WHERE id > (SELECT max(id) - ? FROM runs)", (FEEDS,)).fetchone()[0]
    dup_in_last_run = con.execute("SELECT sum(duplicate) FROM runs WHERE id > (SELECT max(id) - ? FROM runs)", (FEEDS,)).fetchone()[0]
    con.close()
    assert new_in_last_run == total - seen[-1]  # counts add up
    assert new_in_last_run + dup_in_last_run == total


@contextlib.contextmanager
def _read_only(path: Path):  # noqa: ANN202
    """The file read-only for this user; as root (whom chmod does not stop) immutable via chattr.

    Where neither works (root on a filesystem without ``chattr +i``), the test fails with that
    reason rather than pass without having tested anything.
    """
    path.chmod(0o444)
    immutable = os.geteuid() == 0
    if immutable:
        done = shutil.which("chattr") and subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
        if not done:
            pytest.fail("running as root without a working `chattr +i` (e2fsprogs) on this filesystem: "
                        "cannot make the database file read-only; run the tests as a normal user")
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        path.chmod(0o644)


def test_read_only_database_fails_cleanly(tmp_path: Path) -> None:
    _write_feeds(tmp_path)
    db = tmp_path / "listener.db"
    r = CliRunner().invoke(main, ["--db", f"sqlite:///{db}", "db", "upgrade"])
    assert r.exit_code == 0, r.output
    sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    before = _count(db)
    with _read_only(db):
        proc = _listener(tmp_path, db, "run", "--once", "--all")
        out, err = proc.communicate(timeout=120)
    text = err.decode()
    lines = [ln for ln in text.splitlines() if ln.startswith("listener:")]
    assert proc.returncode == 1, text
    assert len(lines) == 1 and "read-only" in lines[0], text
    assert "Traceback" not in text and "INSERT" not in text
    assert _count(db) == before


def test_full_database_fails_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_classifier: None) -> None:
    from listener.store import db as dbmod

    _write_feeds(tmp_path, batch_size=50)
    db = tmp_path / "listener.db"
    url = f"sqlite:///{db}"
    assert CliRunner().invoke(main, ["--db", url, "db", "upgrade"]).exit_code == 0
    pages = sqlite3.connect(db).execute("PRAGMA page_count").fetchone()[0]
    original = dbmod._sqlite_pragmas

    def limited(conn, record) -> None:  # noqa: ANN001
        original(conn, record)
        # SQLite's own size limit: writes beyond it fail with SQLITE_FULL, as on a full disk.
        conn.execute(f"PRAGMA max_page_count={pages + 8}")

    monkeypatch.setattr(dbmod, "_sqlite_pragmas", limited)
    r = CliRunner().invoke(main, ["--db", url, "--sources", str(tmp_path / "sources.yaml"),
                                                  "run", "--once", "--all"])
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("listener:")]
    assert r.exit_code == 1, r.stderr
    assert len(lines) == 1 and "full" in lines[0], r.stderr
    assert "INSERT" not in r.stderr and "Traceback" not in r.stderr
    stored = _count(db)[0]
    assert stored % 50 == 0  # whole batches or nothing
    # With room again, the next run catches up.
    monkeypatch.setattr(dbmod, "_sqlite_pragmas", original)
    r = CliRunner().invoke(main, ["--db", url, "--sources", str(tmp_path / "sources.yaml"), "run", "--once", "--all"])
    assert r.exit_code == 0, r.output
    assert _count(db) == (FEEDS * ITEMS, FEEDS * ITEMS)


def test_unreachable_server_is_retried_then_one_line() -> None:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "listener", "--db", "postgresql://u:pw@127.0.0.1:1/x", "audit"],
                          capture_output=True, text=True, env=_env(), timeout=60)
    assert proc.returncode == 1
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("listener:")]
    assert len(errors) == 1 and "unreachable" in errors[0] and "pw" not in proc.stderr
    assert proc.stderr.count("retrying") == 2 and time.monotonic() - t0 < 30
