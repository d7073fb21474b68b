"""The run loop's bookkeeping in the store, on SQLite and PostgreSQL: what several sources have
ready goes in one transaction, and each source's counts, cursor and run row come out as alone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from listener import runlog
from listener.config import parse_config
from listener.errors import SourceError, SourceSkipped
from listener.models import Checkpoint
from listener.store import queries
from listener.store.db import session_scope
from listener.store.models import Run, SourceState
from listener.store.queries import NewPost

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
TTL = timedelta(minutes=10)


def _sources(tmp_path: Path, factory, ids: list[str]):  # noqa: ANN001, ANN202
    cfg = parse_config({"sources": [{"id": i, "kind": "rss", "url": "feed.xml"} for i in ids]}, tmp_path / "s.yaml")
    with session_scope(factory) as s:
        queries.sync_sources(s, cfg.sources)
    return list(cfg.sources)


def _post(source_id: str, external_id: str) -> NewPost:
    return NewPost(source_id=source_id, platform="rss", external_id=external_id, text=f"Bericht {external_id}",
                   url=None, language="nl", created_at=T0, author_key=None, content_hash=external_id, raw=None)


def test_store_batches_counts_new_and_duplicate_per_batch(tmp_path: Path, store) -> None:
    _, factory = store
    _sources(tmp_path, factory, ["a", "b"])
    with session_scope(factory) as s:
        assert runlog.store_batches(s, [[_post("a", "1"), _post("a", "2")]]) == [(2, 0)]
    with session_scope(factory) as s:
        counts = runlog.store_batches(s, [
            [_post("a", "2"), _post("a", "3")],  # 2 stored before
            [_post("b", "2"), _post("b", "2")],  # another source's "2"; twice in one batch
            [_post("a", "3"), _post("a", "4")],  # a later batch of 'a': its 3 came in the first
            [],
        ])
    assert counts == [(1, 1), (1, 1), (1, 1), (0, 0)]
    with session_scope(factory) as s:
        assert queries.count_posts(s) == 5  # a1-a4, b2


def test_checkpoints_keep_fields_they_leave_empty_and_apply_in_order(tmp_path: Path, store) -> None:
    _, factory = store
    _sources(tmp_path, factory, ["a", "b"])
    with session_scope(factory) as s:
        s.add_all([SourceState(source_id="a", cursor="1", etag='"e1"', consecutive_failures=0, dead=False),
                   SourceState(source_id="b", cursor="9", consecutive_failures=0, dead=False)])
    with session_scope(factory) as s:
        runlog.apply_checkpoints(s, [("a", Checkpoint(cursor="2")), ("b", Checkpoint(not_modified=True)),
                                     ("a", Checkpoint(cursor="3", last_modified="Mon"))])
    with session_scope(factory) as s:
        a, b = s.get(SourceState, "a"), s.get(SourceState, "b")
        assert (a.cursor, a.etag, a.last_modified) == ("3", '"e1"', "Mon")
        assert (b.cursor, b.etag) == ("9", None)


def test_finish_runs_records_counts_and_health_and_gives_leases_back(tmp_path: Path, store) -> None:
    _, factory = store
    sources = _sources(tmp_path, factory, ["ok", "skip", "fail", "stop"])
    opening = runlog.open_runs(factory, sources, "me:1", TTL, T0, check_due=False)
    runs = {r.source.id: r.run_id for r in opening.opened}
    results = {sid: runlog.SourceResult(sid, "rss") for sid in runs}
    results["ok"].fetched, results["ok"].new = 3, 2
    runlog.set_failure(results["skip"], SourceSkipped("source 'skip': no credentials"))
    runlog.set_failure(results["fail"], SourceError("source 'fail': timed out"))
    results["stop"].status = "interrupted"
    with session_scope(factory) as s:
        runlog.finish_runs(s, [(results[sid], runs[sid], None) for sid in runs], "me:1")
    with session_scope(factory) as s:
        rows = {r.source_id: r for r in s.scalars(select(Run))}
        states = {st.source_id: st for st in s.scalars(select(SourceState))}
    assert {sid: r.status for sid, r in rows.items()} == {"ok": "ok", "skip": "skipped", "fail": "failed",
                                                         "stop": "interrupted"}
    assert (rows["ok"].fetched, rows["ok"].new) == (3, 2) and all(r.finished_at for r in rows.values())
    assert states["ok"].last_success_at is not None and states["ok"].consecutive_failures == 0
    assert states["skip"].last_error == "source 'skip': no credentials"
    assert (states["fail"].consecutive_failures, states["fail"].dead) == (1, False)
    assert states["stop"].last_error is None and states["stop"].last_success_at is None
    assert {st.lease_owner for st in states.values()} == {None}
