"""The run loop's bookkeeping in the store: runs opened under leases, posts, cursors, run ends.

``listener.pipeline`` decides what to store and when; this module writes it in few statements
and transactions, whatever the number of sources (a run used to commit four or five times per
source, which made 500 quick feeds wait on the database):

* ``open_runs`` — one transaction per ``leases.CHUNK`` sources takes their leases, closes the
  runs a crashed owner left behind, re-checks due-ness under the lease, stamps
  ``last_attempt_at`` and inserts the ``runs`` rows.
* ``store_batches``, ``apply_checkpoints``, ``finish_runs`` — inside the run loop's store
  transaction, for every source with something ready: its posts, then the cursor they cover,
  then, when its run has ended, the ``runs`` row with its counts, the source's health
  (failures in a row, dead) and giving its lease back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from sqlalchemy import Row, String, bindparam, func, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from listener.config import SourceBase
from listener.errors import EXIT_OK, EXIT_SOURCES_FAILED, RateLimited, SourceError, SourceSkipped
from listener.models import Checkpoint, CursorState
from listener.store import leases, queries
from listener.store.db import session_scope, with_retries
from listener.store.models import Post as PostRow
from listener.store.models import Run, SourceState, utcnow
from listener.store.queries import NewPost

log = logging.getLogger(__name__)

# A source whose feed answered 404/403 this many runs in a row is marked dead.
DEAD_AFTER_FAILURES = 3


@dataclass
class SourceResult:
    """What one source did in one run (also stored as a ``runs`` row)."""

    source_id: str
    kind: str
    # ok | not_modified | failed | skipped | deferred | locked (another run has it) | interrupted
    status: str = "ok"
    fetched: int = 0
    new: int = 0
    duplicate: int = 0
    skipped: int = 0  # other language
    irrelevant: int = 0  # no theme: dropped (purpose limitation)
    warnings: int = 0
    duration_s: float = 0.0
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass
class RunSummary:
    """What a run did: a result per source it tried, and the sources that were not due."""

    results: list[SourceResult] = field(default_factory=list)
    not_due: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_SOURCES_FAILED if any(r.failed for r in self.results) else EXIT_OK


def set_failure(res: SourceResult, exc: BaseException) -> None:
    """The status and one-line error of a source whose collector raised ``exc``."""
    if isinstance(exc, SourceSkipped):
        res.status, res.error = "skipped", str(exc)
    elif isinstance(exc, RateLimited):
        res.status, res.error = "deferred", str(exc)
    elif isinstance(exc, SourceError):
        res.status, res.error = "failed", str(exc)
    else:
        log.debug("source '%s' failed", res.source_id, exc_info=exc)
        res.status, res.error = "failed", f"source '{res.source_id}': unexpected {type(exc).__name__}: {exc}"


def log_result(res: SourceResult, run_id: int) -> None:
    """One log line per finished source run (a warning when it failed)."""
    level = logging.WARNING if res.status == "failed" else logging.INFO
    log.log(level, "source '%s': %s fetched=%d new=%d duplicate=%d skipped=%d irrelevant=%d in %.1fs%s",
            res.source_id, res.status, res.fetched, res.new, res.duplicate, res.skipped, res.irrelevant,
            res.duration_s, f" ({res.error})" if res.error else "",
            extra={"source_id": res.source_id, "n_posts": res.new, "elapsed_s": round(res.duration_s, 3),
                   "run_id": run_id})


@dataclass(frozen=True, slots=True)
class OpenRun:
    """A source this run may collect: its cursor and its ``runs`` row."""

    source: SourceBase
    cursor: CursorState
    run_id: int


@dataclass
class Opening:
    """What ``open_runs`` did with each source."""

    opened: list[OpenRun] = field(default_factory=list)
    locked: list[tuple[SourceBase, leases.Lease]] = field(default_factory=list)  # held by another run
    not_due: list[str] = field(default_factory=list)  # collected by another run since it was selected


_STATE = SourceState.__table__
_RUNS = Run.__table__
_POSTS = PostRow.__table__


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), leases.CHUNK):
        yield list(ids[i : i + leases.CHUNK])


def read_states(s: Session, source_ids: Iterable[str]) -> dict[str, Row[Any]]:
    """The state rows of many sources (those that have one), one query per ``leases.CHUNK``."""
    ids = sorted(set(source_ids))
    out: dict[str, Row[Any]] = {}
    for chunk in _chunks(ids):
        out.update((r.source_id, r) for r in s.execute(select(_STATE).where(_STATE.c.source_id.in_(chunk))))
    return out


def open_runs(factory: sessionmaker[Session], sources: Sequence[SourceBase], owner: str, ttl: timedelta,
              now: datetime, check_due: bool) -> Opening:
    """Lease the sources and open a run for each we may collect, ``leases.CHUNK`` per transaction.

    ``check_due`` re-checks each schedule under the lease: another run may have collected the
    source since it was selected. A lease that had expired is taken over and the runs its
    owner left open are closed as interrupted.
    """
    opening = Opening()
    for i in range(0, len(sources), leases.CHUNK):
        chunk = list(sources[i : i + leases.CHUNK])

        def go(chunk: list[SourceBase] = chunk) -> tuple[Opening, list[tuple[str, str, int]]]:
            with session_scope(factory) as s:
                return _open_chunk(s, chunk, owner, ttl, now, check_due)

        part, taken_over = with_retries(go, f"{len(chunk)} sources: opening runs")
        for sid, previous, n in taken_over:
            log.warning("source '%s': lease of %s had expired; taken over (%d unfinished runs closed)",
                        sid, previous, n, extra={"source_id": sid})
        opening.opened += part.opened
        opening.locked += part.locked
        opening.not_due += part.not_due
    return opening


def _open_chunk(s: Session, chunk: list[SourceBase], owner: str, ttl: timedelta, now: datetime,
                check_due: bool) -> tuple[Opening, list[tuple[str, str, int]]]:
    got = leases.acquire_many(s, [src.id for src in chunk], owner, ttl, now)  # first: SQLite write lock
    states = read_states(s, [src.id for src in chunk if got[src.id].acquired])
    part, taken_over, give_back, go = Opening(), [], [], []
    for src in chunk:
        lease = got[src.id]
        if not lease.acquired:
            part.locked.append((src, lease))
            continue
        if lease.previous_owner:
            n = leases.close_abandoned_runs(s, src.id, lease.previous_owner, utcnow())
            taken_over.append((src.id, lease.previous_owner, n))
        state = states[src.id]
        if check_due and (state.dead or not src.parsed_schedule.is_due(state.last_attempt_at, now)):
            give_back.append(src.id)
            part.not_due.append(src.id)
        else:
            go.append(src)
    if give_back:
        leases.release_many(s, give_back, owner)
    if go:
        s.execute(_STATE.update().where(_STATE.c.source_id.in_([src.id for src in go]))
                  .values(last_attempt_at=now))
        started = utcnow()
        ids = dict((sid, rid) for rid, sid in s.execute(
            _RUNS.insert().returning(_RUNS.c.id, _RUNS.c.source_id),
            [{"source_id": src.id, "started_at": started, "status": "running", "fetched": 0, "new": 0,
              "duplicate": 0, "skipped": 0, "irrelevant": 0, "warnings": 0, "owner": owner} for src in go]))
        part.opened = [OpenRun(src, CursorState(cursor=states[src.id].cursor, etag=states[src.id].etag,
                                                last_modified=states[src.id].last_modified), ids[src.id])
                       for src in go]
    return part, taken_over


def store_batches(s: Session, batches: Sequence[Sequence[NewPost]]) -> list[tuple[int, int]]:
    """Store the posts of several batches (sources) in one go; (new, duplicate) per batch.

    One ``queries.store_posts`` call for all of them, not one per source: each is a round trip
    to the database. The split per batch comes from the keys stored before, read in one query;
    only the run holding a source's lease collects it, so nothing else adds them meanwhile.
    """
    keys = sorted({(p.source_id, p.external_id) for b in batches for p in b})
    seen: set[tuple[str, str]] = set()
    for i in range(0, len(keys), leases.CHUNK):
        pairs = keys[i : i + leases.CHUNK]
        seen.update(tuple(r) for r in s.execute(
            select(_POSTS.c.source_id, _POSTS.c.external_id)
            .where(tuple_(_POSTS.c.source_id, _POSTS.c.external_id).in_(pairs))))
    if keys:
        queries.store_posts(s, [p for b in batches for p in b])
    out = []
    for b in batches:
        fresh = {(p.source_id, p.external_id) for p in b} - seen
        seen |= fresh
        out.append((len(fresh), len(b) - len(fresh)))
    return out


def apply_checkpoints(s: Session, checkpoints: Sequence[tuple[str, Checkpoint]]) -> None:
    """Move cursors, in the caller's transaction (the one storing the posts they cover).

    As ``queries.apply_checkpoint``: a field a checkpoint leaves None keeps its stored value.
    Several checkpoints of one source apply in order.
    """
    rows = [{"b_sid": sid, "b_cursor": cp.cursor, "b_etag": cp.etag, "b_lm": cp.last_modified}
            for sid, cp in checkpoints if (cp.cursor, cp.etag, cp.last_modified) != (None, None, None)]
    if rows:
        s.execute(_STATE.update().where(_STATE.c.source_id == bindparam("b_sid")).values(
            cursor=func.coalesce(bindparam("b_cursor", type_=String), _STATE.c.cursor),
            etag=func.coalesce(bindparam("b_etag", type_=String), _STATE.c.etag),
            last_modified=func.coalesce(bindparam("b_lm", type_=String), _STATE.c.last_modified),
        ), rows)


def finish_runs(s: Session, finished: Sequence[tuple[SourceResult, int, BaseException | None]],
                owner: str) -> None:
    """Record how runs ended, update their sources' health and give their leases back.

    In the caller's transaction, normally the one that also stores the sources' last posts and
    checkpoints.
    """
    if not finished:
        return
    now = utcnow()
    s.execute(_RUNS.update().where(_RUNS.c.id == bindparam("b_id")).values(
        {c: bindparam(f"b_{c}") for c in ("finished_at", "status", "fetched", "new", "duplicate", "skipped",
                                          "irrelevant", "warnings", "duration_s", "error")}), [
        {"b_id": run_id, "b_finished_at": now, "b_status": res.status, "b_fetched": res.fetched, "b_new": res.new,
         "b_duplicate": res.duplicate, "b_skipped": res.skipped, "b_irrelevant": res.irrelevant,
         "b_warnings": res.warnings, "b_duration_s": round(res.duration_s, 3), "b_error": res.error}
        for res, run_id, _ in finished])
    fine = [res.source_id for res, _, _ in finished if res.status in ("ok", "not_modified")]
    failed = [(res, exc) for res, _, exc in finished if res.status == "failed"]
    # A shutdown ("interrupted") is not the source's fault; its cursor covers what was stored.
    other = [res for res, _, _ in finished if res.status not in ("ok", "not_modified", "failed", "interrupted")]
    for chunk in _chunks(fine):
        s.execute(_STATE.update().where(_STATE.c.source_id.in_(chunk))
                  .values(last_success_at=now, last_error=None, consecutive_failures=0))
    if failed:
        current = read_states(s, [res.source_id for res, _ in failed])
        rows = []
        for res, exc in failed:
            state = current[res.source_id]
            n = (state.consecutive_failures or 0) + 1
            gone = type(exc).__name__ == "FeedGone"
            status = getattr(exc, "http_status", None)
            dead = bool(state.dead) or gone or (status in (403, 404) and n >= DEAD_AFTER_FAILURES)
            rows.append({"b_sid": res.source_id, "b_error": res.error, "b_n": n, "b_dead": dead})
        s.execute(_STATE.update().where(_STATE.c.source_id == bindparam("b_sid")).values(
            last_error=bindparam("b_error"), consecutive_failures=bindparam("b_n"), dead=bindparam("b_dead")),
            rows)
    if other:
        s.execute(_STATE.update().where(_STATE.c.source_id == bindparam("b_sid")).values(
            last_error=bindparam("b_error")), [{"b_sid": res.source_id, "b_error": res.error} for res in other])
    leases.release_many(s, [res.source_id for res, _, _ in finished], owner)
