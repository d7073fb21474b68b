"""Per-source leases on SQLite and PostgreSQL: exclusive, expiring, renewable, reported as 'locked'."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from listener.config import parse_config
from listener.pipeline import Pipeline
from listener.store import leases, queries
from listener.store.db import session_scope
from listener.store.models import Run, SourceState

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
TTL = timedelta(minutes=10)
FEED = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Dorp</title>
<item><title>Buurtbus rijdt niet meer</title><link>https://example.org/1</link><guid>n1</guid>
<description>Het dorpshuis zoekt vrijwilligers voor de buurtbus.</description></item></channel></rss>"""


def _config(tmp_path: Path, ids: list[str]):  # noqa: ANN202
    (tmp_path / "feed.xml").write_text(FEED, encoding="utf-8")
    return parse_config({"sources": [{"id": i, "kind": "rss", "url": "feed.xml", "languages": [],
                                      "keep_irrelevant": True} for i in ids]}, tmp_path / "sources.yaml")


def _register(factory, cfg) -> None:  # noqa: ANN001
    with session_scope(factory) as s:
        queries.sync_sources(s, cfg.sources)


def test_acquire_is_exclusive_until_released_or_expired(tmp_path: Path, store) -> None:
    _, factory = store
    _register(factory, _config(tmp_path, ["a"]))
    got = leases.acquire(factory, "a", "host1:1", TTL, now=T0)
    assert got.acquired and got.expires_at == T0 + TTL and got.previous_owner is None
    other = leases.acquire(factory, "a", "host2:2", TTL, now=T0 + timedelta(minutes=5))
    assert not other.acquired and other.owner == "host1:1"
    assert leases.acquire(factory, "a", "host1:1", TTL, now=T0 + timedelta(minutes=1)).acquired  # own: re-entrant
    leases.release(factory, "a", "host2:2")  # not ours: no effect
    assert not leases.acquire(factory, "a", "host2:2", TTL, now=T0 + timedelta(minutes=2)).acquired
    leases.release(factory, "a", "host1:1")
    assert leases.acquire(factory, "a", "host2:2", TTL, now=T0 + timedelta(minutes=3)).acquired


def test_expired_lease_is_taken_over_and_renewal_then_fails(tmp_path: Path, store) -> None:
    _, factory = store
    _register(factory, _config(tmp_path, ["a"]))
    assert leases.acquire(factory, "a", "crashed:1", TTL, now=T0).acquired
    assert leases.renew(factory, "a", "crashed:1", TTL, now=T0 + timedelta(minutes=8))  # now until 10:18
    assert not leases.acquire(factory, "a", "next:2", TTL, now=T0 + timedelta(minutes=17)).acquired
    took = leases.acquire(factory, "a", "next:2", TTL, now=T0 + timedelta(minutes=19))
    assert took.acquired and took.previous_owner == "crashed:1"
    assert not leases.renew(factory, "a", "crashed:1", TTL, now=T0 + timedelta(minutes=20))


def test_many_threads_one_winner(tmp_path: Path, store) -> None:
    _, factory = store
    _register(factory, _config(tmp_path, ["a"]))
    barrier = threading.Barrier(6)
    won: list[str] = []

    def contender(i: int) -> None:
        barrier.wait()
        if leases.acquire(factory, "a", f"host:{i}", TTL, now=T0).acquired:
            won.append(f"host:{i}")

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(won) == 1
    with session_scope(factory) as s:
        assert s.get(SourceState, "a").lease_owner == won[0]


def test_keeper_renews_and_notices_a_lost_lease(tmp_path: Path, store) -> None:
    _, factory = store
    _register(factory, _config(tmp_path, ["a", "b"]))
    clock = [T0]
    keeper = leases.LeaseKeeper(factory, "me:1", TTL, clock=lambda: clock[0])
    for sid in ("a", "b"):
        assert leases.acquire(factory, sid, "me:1", TTL, now=T0).acquired
        keeper.add(sid)
    clock[0] = T0 + timedelta(minutes=9)
    keeper.renew_all()
    assert not leases.acquire(factory, "a", "other:2", TTL, now=T0 + timedelta(minutes=12)).acquired  # renewed
    # 'b' is taken over after expiry (say this host was frozen); the keeper notices.
    assert leases.acquire(factory, "b", "other:2", TTL, now=T0 + timedelta(minutes=20)).acquired
    keeper.renew_all()
    assert keeper.lost == {"b"} and keeper.held() == ["a"]
    keeper.release_all()
    with session_scope(factory) as s:
        assert s.get(SourceState, "a").lease_owner is None
        assert s.get(SourceState, "b").lease_owner == "other:2"


def test_pipeline_reports_a_leased_source_as_locked(tmp_path: Path, store) -> None:
    _, factory = store
    cfg = _config(tmp_path, ["a", "b"])
    _register(factory, cfg)
    now = datetime.now(timezone.utc)
    assert leases.acquire(factory, "a", "elsewhere:9", TTL, now=now).acquired
    summary = Pipeline(cfg, factory, None).run(only_due=False)
    status = {r.source_id: r.status for r in summary.results}
    assert status == {"a": "locked", "b": "ok"}
    assert summary.exit_code == 0  # locked is not a failure
    with session_scope(factory) as s:
        assert [r.source_id for r in s.scalars(select(Run))] == ["b"]
        assert s.get(SourceState, "a").lease_owner == "elsewhere:9"
        assert s.get(SourceState, "b").lease_owner is None  # given back after the run


def test_pipeline_takes_over_an_expired_lease_and_closes_the_dead_run(tmp_path: Path, store) -> None:
    _, factory = store
    cfg = _config(tmp_path, ["a"])
    _register(factory, cfg)
    with session_scope(factory) as s:
        queries.start_run(s, "a", "crashed:1")
    assert leases.acquire(factory, "a", "crashed:1", TTL, now=T0).acquired
    summary = Pipeline(cfg, factory, None, clock=lambda: T0 + TTL + timedelta(seconds=1)).run()
    assert [(r.status, r.new) for r in summary.results] == [("ok", 1)]
    with session_scope(factory) as s:
        runs = {r.owner: r for r in s.scalars(select(Run))}
    assert runs["crashed:1"].status == "interrupted" and "lease expired" in runs["crashed:1"].error


def test_a_source_collected_meanwhile_is_not_collected_again(tmp_path: Path, store) -> None:
    # Selected as due, but another run collected it before we got the lease: re-checked under it.
    _, factory = store
    cfg = _config(tmp_path, ["a"])
    pipe = Pipeline(cfg, factory, None)
    sources, _ = pipe.select(None, True, datetime.now(timezone.utc))
    assert [s.id for s in sources] == ["a"]
    assert Pipeline(cfg, factory, None).run()  # the other run
    again = Pipeline(cfg, factory, None).run(["a"], if_due=True)
    assert again.results == [] and again.not_due == ["a"]


def test_acquire_many_takes_free_and_expired_leases_in_one_transaction(tmp_path: Path, store) -> None:
    _, factory = store
    _register(factory, _config(tmp_path, ["free", "held", "expired", "mine", "new"]))  # "new": no state row yet
    assert leases.acquire(factory, "free", "earlier:4", TTL, now=T0 - TTL).acquired
    leases.release(factory, "free", "earlier:4")
    assert leases.acquire(factory, "held", "other:2", TTL, now=T0).acquired
    assert leases.acquire(factory, "expired", "crashed:3", TTL, now=T0 - 2 * TTL).acquired
    assert leases.acquire(factory, "mine", "me:1", TTL, now=T0).acquired
    commits = _count_commits(factory)
    with session_scope(factory) as s:
        got = leases.acquire_many(s, ["free", "held", "expired", "mine", "new"], "me:1", TTL, now=T0)
    assert commits() == 1
    assert {sid: lease.acquired for sid, lease in got.items()} == {
        "free": True, "held": False, "expired": True, "mine": True, "new": True}
    assert got["held"].owner == "other:2" and got["held"].expires_at == T0 + TTL
    assert got["expired"].previous_owner == "crashed:3" and got["mine"].previous_owner is None
    with session_scope(factory) as s:
        owners = {st.source_id: st.lease_owner for st in s.scalars(select(SourceState))}
    assert owners == {"free": "me:1", "held": "other:2", "expired": "me:1", "mine": "me:1", "new": "me:1"}


def test_renew_many_and_release_many_touch_only_our_leases(tmp_path: Path, store) -> None:
    _, factory = store
    _register(factory, _config(tmp_path, ["a", "b", "c"]))
    for sid in ("a", "b"):
        assert leases.acquire(factory, sid, "me:1", TTL, now=T0).acquired
    assert leases.acquire(factory, "c", "other:2", TTL, now=T0).acquired
    # 'b' expired and was taken over while this host was frozen.
    assert leases.acquire(factory, "b", "other:2", TTL, now=T0 + 2 * TTL).acquired
    assert leases.renew_many(factory, ["a", "b", "c"], "me:1", TTL, now=T0 + 2 * TTL) == {"a"}
    with session_scope(factory) as s:
        leases.release_many(s, ["a", "b", "c"], "me:1")
    with session_scope(factory) as s:
        owners = {st.source_id: st.lease_owner for st in s.scalars(select(SourceState))}
    assert owners == {"a": None, "b": "other:2", "c": "other:2"}


def test_a_run_takes_all_its_leases_in_one_transaction_and_gives_each_back(tmp_path: Path, store) -> None:
    from listener import runlog

    _, factory = store
    ids = [f"s{i:02d}" for i in range(30)]
    cfg = _config(tmp_path, ids)
    _register(factory, cfg)
    assert leases.acquire(factory, "s07", "elsewhere:9", TTL, now=T0).acquired
    commits = _count_commits(factory)
    opening = runlog.open_runs(factory, list(cfg.sources), "me:1", TTL, T0, check_due=True)
    assert commits() == 1
    assert [src.id for src, _ in opening.locked] == ["s07"] and opening.not_due == []
    assert sorted(r.source.id for r in opening.opened) == [i for i in ids if i != "s07"]
    with session_scope(factory) as s:
        runs = list(s.scalars(select(Run)))
        assert {r.status for r in runs} == {"running"} and len(runs) == 29
        assert s.get(SourceState, "s01").last_attempt_at == T0
    # A second run at once finds every source leased, and opens nothing.
    again = runlog.open_runs(factory, list(cfg.sources), "next:2", TTL, T0, check_due=True)
    assert again.opened == [] and len(again.locked) == 30


def _count_commits(factory):  # noqa: ANN001, ANN202
    """A function returning how many transactions committed on the factory's engine since this call."""
    from sqlalchemy import event

    engine = factory.kw["bind"]
    n = [0]

    def on_commit(_conn) -> None:  # noqa: ANN001
        n[0] += 1

    event.listen(engine, "commit", on_commit)
    return lambda: n[0]
