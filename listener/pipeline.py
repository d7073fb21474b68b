"""The run loop: collect → clean → classify → store, per source, isolated and incremental.

Collectors run in a bounded thread pool and only yield items; this module owns everything
else. Posts are stored in batches; a ``Checkpoint`` from a collector is stored in the same
transaction as the posts before it, never earlier, so a crash between fetch and commit never
skips a post, and the unique key (source, external id) means a repeat never duplicates one.
What is ready when the store thread comes round (batches, checkpoints and ended runs of several
sources) is committed together; ``listener.runlog`` writes the runs and leases side of it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from listener import runlog
from listener.collectors.base import CollectContext, collector_for
from listener.config import Config, SourceBase
from listener.errors import StoreRefused
from listener.ingest import IngestCounts, Screened, prepare, screen, screen_args, to_rows  # noqa: F401 - API
from listener.models import Checkpoint, Post, Warning_
from listener.runlog import DEAD_AFTER_FAILURES, RunSummary, SourceResult  # noqa: F401 - this module's API
from listener.store import leases, queries
from listener.store.db import session_scope
from listener.store.models import utcnow
from listener.tagging import Tagger

log = logging.getLogger(__name__)

# At most this many batches (posts, a checkpoint, the end of a run) per store transaction.
MAX_GROUP = 1000


def run_owner() -> str:
    """Who runs this collection: host and process, stored with runs and leases."""
    return f"{socket.gethostname()}:{os.getpid()}"


_DONE = object()
_STOPPED = object()  # the collector was stopped (shutdown, lease lost) before it finished


@dataclass
class _Live:
    """A source being collected: its result so far."""

    source: SourceBase
    result: SourceResult
    run_id: int
    started: float = field(default_factory=time.monotonic)


@dataclass
class _Batch:
    """What a collector thread hands over: a full batch of posts, the posts up to a checkpoint,
    or the rest at the end of the source's run (``end``: _DONE, _STOPPED or the exception)."""

    posts: list[Post]
    screened: list[Screened]
    checkpoint: Checkpoint | None = None
    end: object = None


def _retry_first_sync(fn: Callable[[], Any], attempts: int = 3) -> Any:
    # Two runs starting together on a new database may both insert the same sources row;
    # the loser sees the winner's rows on a second try.
    for i in range(attempts):
        try:
            return fn()
        except IntegrityError:
            if i == attempts - 1:
                raise
            log.info("sources were being registered by another run; retrying")
    raise AssertionError("unreachable")


class Pipeline:
    """Runs sources once: collectors in threads, storing in this thread."""

    def __init__(self, config: Config, factory: sessionmaker[Session], tagger: Tagger | None,
                 ctx: CollectContext | None = None, owner: str | None = None,
                 lease_ttl: timedelta = leases.DEFAULT_TTL,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.factory = factory
        self.tagger = tagger
        s = config.settings
        contact = f"; {s.contact}" if s.contact else ""
        self.ctx = ctx or CollectContext(
            user_agent=f"krimp-listener/{_version()} (+https://github.com/krimp-listener/krimp-listener{contact})",
            timeout_s=s.timeout_s,
            max_body_bytes=int(s.max_body_mb * 1_000_000),
            max_items_per_run=s.max_items_per_run,
            max_per_host=s.per_host,
            env=dict(os.environ),
            keyword_sets=config.keyword_sets,
            max_wait_s=s.max_wait_s,
            base_dir=config.path.parent,
        )
        self.owner = owner or run_owner()
        self.stop = threading.Event()  # set by a signal handler: finish the batch in hand, then stop
        self.lease_ttl = lease_ttl
        self.clock = clock or utcnow  # injected by tests to move time (lease expiry, due-ness)
        self._keeper: leases.LeaseKeeper | None = None
        self._unreleased: set[str] = set()  # leases not given back yet (each run's end gives its own)
        self._collectors: dict[str, Any] = {}
        self._store_failed: dict[str, StoreRefused] = {}  # sources whose posts the database refused this run
        self._lock = threading.Lock()

    # -- selection -------------------------------------------------------------------------

    def select(self, source_ids: Iterable[str] | None, only_due: bool, now: datetime) -> tuple[list[SourceBase], list[str]]:
        """The sources to run now, and the ids of those not due yet."""
        wanted = list(source_ids or [])
        if wanted:
            chosen = [self.config.source(sid) for sid in wanted]
            return chosen, []
        return _retry_first_sync(lambda: self._select_due(only_due, now))

    def _select_due(self, only_due: bool, now: datetime) -> tuple[list[SourceBase], list[str]]:
        chosen, not_due = [], []
        with session_scope(self.factory) as s:
            queries.sync_sources(s, self.config.sources)
            enabled = [src for src in self.config.sources if src.enabled]
            states = runlog.read_states(s, [src.id for src in enabled])
            for src in enabled:
                state = states.get(src.id)
                if state is None:  # never run: due
                    chosen.append(src)
                    continue
                if state.dead:
                    log.warning("source '%s' is marked dead (%s); skipped. Fix its URL or run it with --source",
                                src.id, state.last_error)
                    continue
                if only_due and not src.parsed_schedule.is_due(state.last_attempt_at, now):
                    not_due.append(src.id)
                    continue
                chosen.append(src)
        return chosen, not_due

    # -- running ---------------------------------------------------------------------------

    def run(self, source_ids: Iterable[str] | None = None, only_due: bool = True,
            on_result: Callable[[SourceResult], None] | None = None, *, if_due: bool = False) -> RunSummary:
        """Collect the chosen (or every due) source once; one failure never stops the others.

        Each source is collected under its lease: one held by another run is reported as
        ``locked``. ``if_due`` makes named sources (the daemon's jobs) run only when due.
        """
        now = self.clock()
        source_ids = list(source_ids or [])
        if source_ids:
            def sync() -> None:
                with session_scope(self.factory) as s:
                    queries.sync_sources(s, self.config.sources)

            _retry_first_sync(sync)
        sources, not_due = self.select(source_ids, only_due, now)
        summary = RunSummary(not_due=not_due)
        if not sources:
            return summary
        keeper = self._keeper = leases.LeaseKeeper(self.factory, self.owner, self.lease_ttl, self.clock)
        self._unreleased = set()
        self._store_failed = {}
        try:
            opened = self._open(sources, keeper, summary, now, if_due or (only_due and not source_ids), on_result)
            if opened:
                keeper.start()
                self._collect(opened, summary, on_result)
        finally:
            keeper.stop()
            keeper.release_all(sorted(self._unreleased))  # only after a failure: runs give theirs back
            self._keeper = None
        if self.tagger is not None and any(r.new for r in summary.results) and not self.stop.is_set():
            self._count_weeks()
        return summary

    def _count_weeks(self) -> None:
        """Store the counts of ended weeks that have none yet, and raise those of the last two
        weeks that received posts since they were counted (``weekly.refresh_weekly_counts``).

        Without this, the first report on a store filled by collectors alone (no weekly report
        ran yet) counted all twelve chart weeks from the posts: 15-18 s at 1,000,000 posts.
        Nothing to count after most runs (a few small queries). A failure here is logged and
        does not change the run's result: the report counts what is missing itself.
        """
        try:
            from listener.reports import weekly  # pandas: only after a run that stored posts

            weekly.refresh_weekly_counts(self.factory, self.clock())
        except Exception as exc:  # noqa: BLE001 - the posts are stored; the counts are an optimisation
            log.warning("weekly counts not stored after the run: %s", " ".join(str(exc).split())[:300])

    def _open(self, sources: list[SourceBase], keeper: leases.LeaseKeeper, summary: RunSummary, now: datetime,
              check_due: bool, on_result: Callable[[SourceResult], None] | None) -> list[runlog.OpenRun]:
        """Lease the sources and open their runs; those we may collect now."""
        if self.stop.is_set():
            return []
        opening = runlog.open_runs(self.factory, sources, self.owner, self.lease_ttl, now, check_due)
        for run in opening.opened:
            keeper.add(run.source.id)
            self._unreleased.add(run.source.id)
        for src, lease in opening.locked:
            holder = lease.owner or "another run"
            res = SourceResult(src.id, src.kind, status="locked", error=f"being collected by {holder}")
            log.info("source '%s': locked, being collected by %s", src.id, holder, extra={"source_id": src.id})
            summary.results.append(res)
            if on_result:
                on_result(res)
        summary.not_due += opening.not_due
        return opening.opened

    def _collect(self, opened: list[runlog.OpenRun], summary: RunSummary,
                 on_result: Callable[[SourceResult], None] | None) -> None:
        workers = min(self.config.settings.concurrency, len(opened))
        # Batches, not posts: each holds up to batch_size posts, so a few per thread is plenty.
        events: queue.Queue = queue.Queue(maxsize=2 * workers)
        live = {run.source.id: _Live(run.source, SourceResult(run.source.id, run.source.kind), run.run_id)
                for run in opened}
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect") as pool:
                futures = [pool.submit(self._produce, run.source, run.cursor, events) for run in opened]
                try:
                    self._consume(events, live, summary, on_result)
                except BaseException:
                    # Unblock the collectors (they may wait on a full queue) so the pool can close.
                    self.stop.set()
                    while not all(f.done() for f in futures):
                        try:
                            events.get(timeout=0.1)
                        except queue.Empty:
                            pass
                    raise
        finally:
            self._close_collectors()

    def _consume(self, events: queue.Queue, live: dict[str, _Live], summary: RunSummary,
                 on_result: Callable[[SourceResult], None] | None) -> None:
        """Take the collectors' batches and store them in groups until every source has ended."""
        batch_size = self.config.settings.batch_size
        while live:
            ready: list[tuple[_Live, _Batch]] = []
            n_posts = self._take(events.get(), live, ready)
            # Whatever else has arrived meanwhile joins this transaction: no waiting, so a quiet
            # run commits as soon as before, and a busy one commits far less often.
            while n_posts < batch_size and len(ready) < MAX_GROUP:
                try:
                    event = events.get_nowait()
                except queue.Empty:
                    break
                n_posts += self._take(event, live, ready)
            if ready:
                self._store(ready, live, summary, on_result)

    def _take(self, event: tuple[str, Any], live: dict[str, _Live], ready: list[tuple[_Live, _Batch]]) -> int:
        """Count a warning, or add a batch to ``ready``; the number of posts added."""
        sid, item = event
        src = live[sid]
        res = src.result
        if isinstance(item, Warning_):
            res.warnings += 1
            log.warning("source '%s': %s", sid, item.message)
            return 0
        refused = self._store_failed.get(sid)
        if refused is not None:  # the store refused this source's posts: the rest of its run is dropped
            if item.end is None:
                return 0
            item = _Batch([], [], end=refused)
        if item.checkpoint is not None and item.checkpoint.not_modified:
            res.status = "not_modified"
        if item.end is not None:
            if isinstance(item.end, BaseException):
                runlog.set_failure(res, item.end)
            elif item.end is _STOPPED:
                lost = self._keeper is not None and sid in self._keeper.lost
                res.status = "interrupted"
                res.error = ("lease lost to another run" if lost
                             else "stopped before the source was finished (shutdown)")
            res.duration_s = time.monotonic() - src.started
            if self._keeper is not None:
                self._keeper.discard(sid)  # its lease is given back with its run record
        ready.append((src, item))
        return len(item.posts)

    def _store(self, ready: list[tuple[_Live, _Batch]], live: dict[str, _Live], summary: RunSummary,
               on_result: Callable[[SourceResult], None] | None) -> None:
        """One transaction: the posts, then the checkpoints they cover, then the runs that ended.

        A cursor never moves before the posts it covers are stored: both commit, or neither.
        When the database refuses the group because of one source's data (a value it cannot
        take), each source's part is stored in a transaction of its own: the offending source
        fails, the others are stored. A store-wide problem (unreachable, locked, full) still
        raises, since no source could be stored.
        """
        with_posts = [(src, b) for src, b in ready if b.posts]
        counts = [IngestCounts() for _ in with_posts]
        rows = to_rows([(b.posts, b.screened, src.source, c) for (src, b), c in zip(with_posts, counts)],
                       self.tagger)
        tallies = {id(b): (c, r) for (_, b), c, r in zip(with_posts, counts, rows)}
        try:
            self._commit(ready, tallies)
        except DBAPIError as exc:
            if len({src.source.id for src, _ in ready}) == 1:
                self._refused(ready, exc)
            else:
                log.info("the store refused a group of %d batches (%s); storing each source on its own",
                         len(ready), type(exc.orig).__name__)
                by_source: dict[str, list[tuple[_Live, _Batch]]] = {}
                for src, b in ready:
                    by_source.setdefault(src.source.id, []).append((src, b))
                for part in by_source.values():
                    try:
                        self._commit(part, tallies)
                    except DBAPIError as exc_part:
                        self._refused(part, exc_part)
        for src, b in ready:
            if b.end is None:
                continue
            res = src.result
            self._unreleased.discard(res.source_id)
            del live[res.source_id]
            runlog.log_result(res, src.run_id)
            summary.results.append(res)
            if on_result:
                on_result(res)

    def _commit(self, ready: list[tuple[_Live, _Batch]],
                tallies: dict[int, tuple[IngestCounts, list[Any]]]) -> None:
        """Store ``ready`` in one transaction; the sources' results change only if it commits."""
        with_posts = [(src, b) for src, b in ready if b.posts]
        finished = [(src, b) for src, b in ready if b.end is not None]
        before = {id(src): dataclasses.replace(src.result) for src, _ in ready}
        try:
            with session_scope(self.factory) as s:
                stored = runlog.store_batches(s, [tallies[id(b)][1] for _, b in with_posts])
                for (src, b), (new, duplicate) in zip(with_posts, stored):
                    c = tallies[id(b)][0]
                    res = src.result  # before finish_runs writes these counts into the runs rows
                    res.fetched += c.fetched
                    res.new += new
                    res.duplicate += duplicate
                    res.skipped += c.skipped
                    res.irrelevant += c.irrelevant
                runlog.apply_checkpoints(s, [(src.source.id, b.checkpoint) for src, b in ready if b.checkpoint])
                runlog.finish_runs(s, [(src.result, src.run_id, b.end if isinstance(b.end, BaseException) else None)
                                       for src, b in finished], self.owner)
        except BaseException:
            for src, _ in ready:  # nothing was stored: the counts go back to what they were
                vars(src.result).update(vars(before[id(src)]))
            raise

    def _refused(self, part: list[tuple[_Live, _Batch]], exc: DBAPIError) -> None:
        """The store refused one source's posts: the source fails (its cursor stays where it was,
        so nothing is lost), its collector stops, and its run is recorded as failed."""
        src = part[0][0]
        sid = src.source.id
        reason = " ".join(str(exc.orig).split())[:200]
        err = StoreRefused(f"source '{sid}': the database refused its posts ({type(exc.orig).__name__}: {reason}); "
                         "nothing of this batch was stored, the next run collects it again")
        self._store_failed[sid] = err
        runlog.set_failure(src.result, err)
        log.error("%s", err, extra={"source_id": sid})
        ended = [(s_, b) for s_, b in part if b.end is not None]
        if ended:  # the run ended in this group: record it as failed now, without the refused posts
            with session_scope(self.factory) as s:
                runlog.finish_runs(s, [(src.result, src.run_id, err)], self.owner)

    def _collector(self, kind: str) -> Any:
        with self._lock:
            if kind not in self._collectors:
                self._collectors[kind] = collector_for(kind, self.ctx)
            return self._collectors[kind]

    def _close_collectors(self) -> None:
        for c in self._collectors.values():
            close = getattr(c, "close", None)
            if close:
                close()
        self._collectors.clear()

    def _stopping(self, source_id: str) -> bool:
        return self.stop.is_set() or source_id in self._store_failed or \
            (self._keeper is not None and source_id in self._keeper.lost)

    def _produce(self, src: SourceBase, state: Any, events: queue.Queue) -> None:
        """Collect one source in this thread; hand over screened batches, its warnings and its end."""
        batch_size = self.config.settings.batch_size
        posts: list[Post] = []

        def hand_over(checkpoint: Checkpoint | None = None, end: object = None) -> None:
            nonlocal posts
            batch, posts = posts, []
            # Screened here, in the collector's thread, so the one store thread only classifies and stores.
            events.put((src.id, _Batch(batch, screen(*screen_args(batch, src)) if batch else [], checkpoint, end)))

        try:
            if self._stopping(src.id):
                hand_over(end=_STOPPED)
                return
            for item in self._collector(src.kind).collect(src, state):
                if self._stopping(src.id):
                    hand_over(end=_STOPPED)
                    return
                if isinstance(item, Post):
                    posts.append(item)
                    if len(posts) >= batch_size:
                        hand_over()
                elif isinstance(item, Checkpoint):
                    hand_over(checkpoint=item)
                elif isinstance(item, Warning_):
                    events.put((src.id, item))
            hand_over(end=_DONE)
        except BaseException as exc:  # noqa: BLE001 - reported per source, never fatal to others
            try:
                hand_over(end=exc)
            except BaseException:  # noqa: BLE001 - the run loop must hear that this source ended
                events.put((src.id, _Batch([], [], end=exc)))


def _version() -> str:
    from listener import __version__

    return __version__
