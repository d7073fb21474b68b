"""Per-source collection leases in the database, so two runs never collect one source at once.

A lease is ``source_state.lease_owner`` plus ``lease_expires_at``. Taking one is a short
transaction of its own: on PostgreSQL the state row is read ``FOR UPDATE SKIP LOCKED`` (a row
another run is taking right now counts as held); on SQLite the transaction starts with a write,
so it holds the database write lock from its first statement (what ``BEGIN IMMEDIATE`` gives).
A lease expires, so a crashed run blocks its sources only until then; a long run renews its
leases from a background thread (``LeaseKeeper``). Several hosts sharing one PostgreSQL divide
the sources between them this way.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

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


def _ensure_row(s: Session, source_id: str) -> None:
    # The first statement writes, so on SQLite this transaction now holds the write lock.
    insert = dialect_insert(s)
    s.execute(insert(SourceState).values(source_id=source_id, consecutive_failures=0, dead=False)
              .on_conflict_do_nothing(index_elements=["source_id"]))


def acquire(factory: sessionmaker[Session], source_id: str, owner: str,
            ttl: timedelta = DEFAULT_TTL, now: datetime | None = None) -> Lease:
    """Take the lease of ``source_id`` for ``owner`` unless another owner holds an unexpired one."""
    now = now or _utcnow()

    def go() -> Lease:
        with session_scope(factory) as s:
            _ensure_row(s, source_id)
            q = select(SourceState.lease_owner, SourceState.lease_expires_at).where(
                SourceState.source_id == source_id)
            if s.get_bind().dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            row = s.execute(q).one_or_none()
            if row is None:  # PostgreSQL: another run holds the row lock right now
                return Lease(source_id, False, None, None)
            holder, expires = row
            if holder and holder != owner and expires is not None and _aware(expires) > now:
                return Lease(source_id, False, holder, _aware(expires))
            new_expiry = now + ttl
            s.execute(update(SourceState).where(SourceState.source_id == source_id)
                      .values(lease_owner=owner, lease_expires_at=new_expiry))
            previous = holder if holder and holder != owner else None
            return Lease(source_id, True, owner, new_expiry, previous)

    return with_retries(go, f"source '{source_id}': lease")


def renew(factory: sessionmaker[Session], source_id: str, owner: str,
          ttl: timedelta = DEFAULT_TTL, now: datetime | None = None) -> bool:
    """Extend our lease; False when it is no longer ours (it expired and another run took it)."""
    now = now or _utcnow()

    def go() -> bool:
        with session_scope(factory) as s:
            res = s.execute(update(SourceState)
                            .where(SourceState.source_id == source_id, SourceState.lease_owner == owner)
                            .values(lease_expires_at=now + ttl))
            return res.rowcount == 1

    return with_retries(go, f"source '{source_id}': lease renewal")


def release(factory: sessionmaker[Session], source_id: str, owner: str) -> None:
    """Give the lease back (only if it is still ours)."""

    def go() -> None:
        with session_scope(factory) as s:
            s.execute(update(SourceState)
                      .where(SourceState.source_id == source_id, SourceState.lease_owner == owner)
                      .values(lease_owner=None, lease_expires_at=None))

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
    """Renews a set of leases every ``ttl / 3`` from a daemon thread while a run goes on."""

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
        for sid in self.held():
            try:
                ok = renew(self.factory, sid, self.owner, self.ttl, self.clock())
            except Exception as exc:  # noqa: BLE001 - the next renewal may succeed
                log.warning("source '%s': lease renewal failed: %s", sid, exc, extra={"source_id": sid})
                continue
            if not ok:
                log.warning("source '%s': lease lost to another run; stopping this source", sid,
                            extra={"source_id": sid})
                self.lost.add(sid)
                self.discard(sid)

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
        for sid in list(source_ids) if source_ids is not None else self.held():
            self.discard(sid)
            try:
                release(self.factory, sid, self.owner)
            except Exception as exc:  # noqa: BLE001 - it expires by itself
                log.warning("source '%s': lease not released (%s); it expires by itself", sid, exc,
                            extra={"source_id": sid})

    def _loop(self) -> None:
        interval = max(self.ttl.total_seconds() / 3, 0.05)
        while not self._stop.wait(interval):
            self.renew_all()
