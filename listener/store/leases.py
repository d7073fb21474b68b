"""Per-source collection leases in the database, so two runs never collect one source at once.

A lease is ``source_state.lease_owner`` plus ``lease_expires_at``. A run takes the leases of
many sources in one short transaction (``acquire_many``, up to ``CHUNK`` sources per
statement): on PostgreSQL the state rows are read ``FOR UPDATE SKIP LOCKED`` (a row another run
is taking right now counts as held); on SQLite the transaction starts with a write, so it holds
the database write lock from its first statement (what ``BEGIN IMMEDIATE`` gives). A lease
expires, so a crashed run blocks its sources only until then; a long run renews its leases from
a background thread (``LeaseKeeper``, one statement for all of them). The run loop gives a
source's lease back in the transaction that records the end of its run. Several hosts sharing
one PostgreSQL divide the sources between them this way.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Iterator, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from listener.store.db import session_scope, with_retries
from listener.store.models import Run, SourceState
from listener.store.queries import dialect_insert

log = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(minutes=10)
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class Lease:
    """The outcome of one attempt to take a source's lease."""

    source_id: str
    acquired: bool
    owner: str | None  # who holds it now (us when acquired)
    expires_at: datetime | None
    previous_owner: str | None = None  # set when we took over a lease that had expired


# Sources per statement: well under SQLite's bound-parameter limit, one round trip for a run's worth.
CHUNK = 500


def _chunks(ids: Sequence[str], n: int = CHUNK) -> Iterator[list[str]]:
    for i in range(0, len(ids), n):
        yield list(ids[i : i + n])


def _ensure_rows(s: Session, source_ids: Sequence[str]) -> None:
    # The first statement writes, so on SQLite this transaction now holds the write lock. Sorted,
    # so two runs inserting the same new rows on PostgreSQL take their row locks in one order.
    insert = dialect_insert(s)
    s.execute(insert(SourceState).values([{"source_id": sid, "consecutive_failures": 0, "dead": False}
                                          for sid in sorted(source_ids)])
              .on_conflict_do_nothing(index_elements=["source_id"]))


def acquire_many(s: Session, source_ids: Sequence[str], owner: str, ttl: timedelta = DEFAULT_TTL,
                 now: datetime | None = None) -> dict[str, Lease]:
    """Take the leases of up to ``CHUNK`` sources in the caller's transaction, by source id.

    Call it first in a fresh transaction (on SQLite its first statement takes the write lock);
    the leases count once that transaction commits. A lease another owner holds unexpired, or
    (PostgreSQL) a state row another run is taking right now, is not taken.
    """
    now = now or _utcnow()
    ids = sorted(set(source_ids))
    if not ids:
        return {}
    _ensure_rows(s, ids)
    q = (select(SourceState.source_id, SourceState.lease_owner, SourceState.lease_expires_at)
         .where(SourceState.source_id.in_(ids)).order_by(SourceState.source_id))
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    rows = {sid: (holder, expires) for sid, holder, expires in s.execute(q)}
    out: dict[str, Lease] = {}
    take: list[str] = []
    new_expiry = now + ttl
    for sid in ids:
        if sid not in rows:  # PostgreSQL: another run holds the row lock right now
            out[sid] = Lease(sid, False, None, None)
            continue
        holder, expires = rows[sid]
        if holder and holder != owner and expires is not None and _aware(expires) > now:
            out[sid] = Lease(sid, False, holder, _aware(expires))
            continue
        take.append(sid)
        out[sid] = Lease(sid, True, owner, new_expiry, holder if holder and holder != owner else None)
    if take:
        t = SourceState.__table__
        s.execute(t.update().where(t.c.source_id.in_(take)).values(lease_owner=owner, lease_expires_at=new_expiry))
    return out


def acquire(factory: sessionmaker[Session], source_id: str, owner: str,
            ttl: timedelta = DEFAULT_TTL, now: datetime | None = None) -> Lease:
    """Take the lease of ``source_id`` for ``owner`` unless another owner holds an unexpired one."""

    def go() -> Lease:
        with session_scope(factory) as s:
            return acquire_many(s, [source_id], owner, ttl, now)[source_id]

    return with_retries(go, f"source '{source_id}': lease")


def renew_many(factory: sessionmaker[Session], source_ids: Sequence[str], owner: str,
               ttl: timedelta = DEFAULT_TTL, now: datetime | None = None) -> set[str]:
    """Extend our leases in one transaction; the ids still ours (the others expired and were taken)."""
    now = now or _utcnow()
    ids = sorted(set(source_ids))

    def go() -> set[str]:
        ours: set[str] = set()
        with session_scope(factory) as s:
            for chunk in _chunks(ids):
                res = s.execute(update(SourceState)
                                .where(SourceState.source_id.in_(chunk), SourceState.lease_owner == owner)
                                .values(lease_expires_at=now + ttl)
                                .returning(SourceState.source_id))
                ours.update(res.scalars())
        return ours

    return with_retries(go, f"{len(ids)} sources: lease renewal") if ids else set()


def renew(factory: sessionmaker[Session], source_id: str, owner: str,
          ttl: timedelta = DEFAULT_TTL, now: datetime | None = None) -> bool:
    """Extend our lease; False when it is no longer ours (it expired and another run took it)."""
    return source_id in renew_many(factory, [source_id], owner, ttl, now)


def release_many(s: Session, source_ids: Sequence[str], owner: str) -> None:
    """Give leases back in the caller's transaction (only those still ours)."""
    t = SourceState.__table__
    for chunk in _chunks(sorted(set(source_ids))):
        s.execute(t.update().where(t.c.source_id.in_(chunk), t.c.lease_owner == owner)
                  .values(lease_owner=None, lease_expires_at=None))


def release(factory: sessionmaker[Session], source_id: str, owner: str) -> None:
    """Give the lease back (only if it is still ours)."""

    def go() -> None:
        with session_scope(factory) as s:
            release_many(s, [source_id], owner)

    with_retries(go, f"source '{source_id}': lease release")


def close_abandoned_runs(s: Session, source_id: str, previous_owner: str, now: datetime) -> int:
    """Mark the runs a crashed owner left 'running' as 'interrupted'; how many."""
    res = s.execute(update(Run)
                    .where(Run.source_id == source_id, Run.owner == previous_owner, Run.status == "running")
                    .values(status="interrupted", finished_at=now,
                            error=f"run by {previous_owner} ended without finishing (its lease expired)"))
    return res.rowcount or 0


def held_by_others(session: Session, owner: str | None, now: datetime | None = None) -> dict[str, tuple[str, datetime]]:
    """Unexpired leases, by source id: (owner, expires_at), leaving out ``owner``'s own."""
    now = now or _utcnow()
    out = {}
    for sid, holder, expires in session.execute(
            select(SourceState.source_id, SourceState.lease_owner, SourceState.lease_expires_at)
            .where(SourceState.lease_owner.is_not(None))):
        if holder != owner and expires is not None and _aware(expires) > now:
            out[sid] = (holder, _aware(expires))
    return out


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


class LeaseKeeper:
    """Renews a set of leases every ``ttl / 3`` from a daemon thread while a run goes on.

    One transaction renews them all, however many sources the run holds.
    """

    def __init__(self, factory: sessionmaker[Session], owner: str, ttl: timedelta = DEFAULT_TTL,
                 clock: Clock = _utcnow) -> None:
        self.factory = factory
        self.owner = owner
        self.ttl = ttl
        self.clock = clock
        self.lost: set[str] = set()  # leases another run took over: stop collecting those
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, source_id: str) -> None:
        with self._lock:
            self._held.add(source_id)

    def discard(self, source_id: str) -> None:
        with self._lock:
            self._held.discard(source_id)

    def held(self) -> list[str]:
        with self._lock:
            return sorted(self._held)

    def renew_all(self) -> None:
        """Renew every held lease now; a lease found lost is logged and remembered in ``lost``."""
        held = self.held()
        try:
            ours = renew_many(self.factory, held, self.owner, self.ttl, self.clock())
        except Exception as exc:  # noqa: BLE001 - the next renewal may succeed
            log.warning("%d leases: renewal failed: %s", len(held), exc)
            return
        with self._lock:
            # A lease given back meanwhile (its source finished) was not lost.
            gone = [sid for sid in held if sid not in ours and sid in self._held]
            self._held.difference_update(gone)
        for sid in gone:
            log.warning("source '%s': lease lost to another run; stopping this source", sid,
                        extra={"source_id": sid})
            self.lost.add(sid)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="lease-keeper", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def release_all(self, source_ids: Iterable[str] | None = None) -> None:
        """Give back the given (default: all held) leases in one transaction."""
        ids = list(source_ids) if source_ids is not None else self.held()
        if not ids:
            return
        with self._lock:
            self._held.difference_update(ids)

        def go() -> None:
            with session_scope(self.factory) as s:
                release_many(s, ids, self.owner)

        try:
            with_retries(go, f"{len(ids)} sources: lease release")
        except Exception as exc:  # noqa: BLE001 - they expire by themselves
            log.warning("%d leases not released (%s); they expire by themselves", len(ids), exc)

    def _loop(self) -> None:
        interval = max(self.ttl.total_seconds() / 3, 0.05)
        while not self._stop.wait(interval):
            self.renew_all()
