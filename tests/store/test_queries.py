"""Bulk upsert: idempotent, batched, safe with two writers; on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing as mp
from datetime import datetime, timezone

from sqlalchemy import func, select

from listener.store.db import open_store, session_scope
from listener.store.models import Post, PostTag
from listener.store.queries import NewPost, iter_posts, post_to_dict, store_posts


def _post(i: int, source: str = "s1", tags: tuple = ()) -> NewPost:
    return NewPost(
        source_id=source, platform="rss", external_id=f"e{i}", text=f"Bericht {i} over het dorpshuis",
        url=f"https://example.org/{i}", language="nl", created_at=datetime(2026, 11, 2, 12, tzinfo=timezone.utc),
        author_key=None, content_hash=f"h{i}", raw=None, tags=tags, classifier_version="test" if tags else None,
    )


THEME = ({"kind": "theme", "tag": "gemeenschap", "label": None, "place": None, "matched": "dorpshuis",
          "evidence": [{"matched": "dorpshuis", "start": 19, "end": 28}], "classifier_version": "test"},)


def test_same_batch_twice_stores_once(store) -> None:
    _, factory = store
    batch = [_post(i, tags=THEME) for i in range(1200)]  # more than one insert batch
    with session_scope(factory) as s:
        assert store_posts(s, batch) == (1200, 0)
    with session_scope(factory) as s:
        assert store_posts(s, batch) == (0, 1200)
    with session_scope(factory) as s:
        assert s.scalar(select(func.count()).select_from(Post)) == 1200
        assert s.scalar(select(func.count()).select_from(PostTag)) == 1200


def test_duplicates_inside_one_batch_and_other_source(store) -> None:
    _, factory = store
    with session_scope(factory) as s:
        new, dup = store_posts(s, [_post(1), _post(1), _post(1, source="s2")])
    assert (new, dup) == (2, 1)


def test_export_shape_round_trip(store) -> None:
    _, factory = store
    with session_scope(factory) as s:
        store_posts(s, [_post(7, tags=THEME)])
    with session_scope(factory) as s:
        [(post, tags)] = list(iter_posts(s))
        d = post_to_dict(post, tags)
    assert d["themes"] == ["gemeenschap"]
    assert d["evidence"] == [{"tag": "gemeenschap", "matched": "dorpshuis", "start": 19, "end": 28}]
    assert d["created_at"] == "2026-11-02T12:00:00+00:00"
    assert d["text"][d["evidence"][0]["start"]:d["evidence"][0]["end"]] == "dorpshuis"


def _writer(url: str, start: int, n: int, q: mp.Queue) -> None:
    _, factory = open_store(url, create=False)
    total = 0
    for i in range(start, start + n, 50):
        with session_scope(factory) as s:
            new, _ = store_posts(s, [_post(j) for j in range(i, min(i + 50, start + n))])
            total += new
    q.put(total)


def test_two_processes_writing_at_once_lose_nothing(store, db_url: str) -> None:
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    # Overlapping ranges: 0..599 and 300..899 — 900 distinct posts, each stored once.
    procs = [ctx.Process(target=_writer, args=(db_url, 0, 600, q)),
             ctx.Process(target=_writer, args=(db_url, 300, 600, q))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert q.get() + q.get() == 900
    _, factory = store
    with session_scope(factory) as s:
        assert s.scalar(select(func.count()).select_from(Post)) == 900


def test_refresh_statistics_vacuums_on_postgresql(store) -> None:  # noqa: ANN001
    # after a bulk import: VACUUM (ANALYZE), outside the session's transaction (it cannot run in one)
    from sqlalchemy import text

    from listener.store.db import session_scope
    from listener.store.queries import refresh_statistics

    engine, factory = store
    with session_scope(factory) as s:
        refresh_statistics(s)  # SQLite: nothing to do, and no error
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            done = dict(conn.execute(text("SELECT relname, last_vacuum IS NOT NULL AND last_analyze IS NOT NULL "
                                          "FROM pg_stat_user_tables WHERE relname IN ('posts', 'post_tags')")).all())
        assert done == {"posts": True, "post_tags": True}
