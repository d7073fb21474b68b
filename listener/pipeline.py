"""The run loop: collect → clean → classify → store, per source, isolated and incremental.

Collectors run in a bounded thread pool and only yield items; this module owns everything
else. Posts are stored in batches; a ``Checkpoint`` from a collector first commits the posts
before it and only then moves the cursor, so a crash between fetch and commit never skips a
post, and the unique key (source, external id) means a repeat never duplicates one.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from listener.collectors.base import CollectContext, collector_for
from listener.config import Config, SourceBase
from listener.errors import (
    EXIT_OK,
    EXIT_SOURCES_FAILED,
    RateLimited,
    SourceError,
    SourceSkipped,
)
from listener.language import detect, keep
from listener.models import Checkpoint, Post, Warning_
from listener.privacy import mask_text, mask_url_credentials, pseudonymous_id
from listener.store import queries
from listener.store import leases
from listener.store.db import session_scope
from listener.store.models import Run, utcnow
from listener.tagging import Tagger, tag_rows
from listener.text import clean_text, content_hash

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
    results: list[SourceResult] = field(default_factory=list)
    not_due: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_SOURCES_FAILED if any(r.failed for r in self.results) else EXIT_OK


@dataclass
class IngestCounts:
    fetched: int = 0
    new: int = 0
    duplicate: int = 0
    skipped: int = 0
    irrelevant: int = 0


def run_owner() -> str:
    """Who runs this collection: host and process, stored with runs and leases."""
    return f"{socket.gethostname()}:{os.getpid()}"


def prepare(posts: Sequence[Post], source: SourceBase, tagger: Tagger | None,
            counts: IngestCounts) -> list[queries.NewPost]:
    """Clean, filter by language, mask, hash and classify posts; drop irrelevant ones."""
    public = frozenset(a.lower().lstrip("@") for a in source.public_accounts)
    kept: list[tuple[Post, str, str | None]] = []
    for p in posts:
        counts.fetched += 1
        text = clean_text(p.text)
        if not text:
            counts.skipped += 1
            continue
        lang = p.language or detect(text)
        if lang:
            lang = lang.lower()[:8]
        if not keep(lang, source.languages):
            counts.skipped += 1
            continue
        kept.append((p, mask_text(text, public), lang))
    classifications: list[Any] = [None] * len(kept)
    version = None
    if tagger is not None and kept:
        version = tagger.version
        classifications = list(tagger.classify_many([t for _, t, _ in kept]))
    out: list[queries.NewPost] = []
    for (p, text, lang), c in zip(kept, classifications):
        if c is not None and not c.themes and not source.keep_irrelevant:
            counts.irrelevant += 1
            continue
        out.append(queries.NewPost(
            source_id=p.source_id, platform=p.platform, external_id=pseudonymous_id(p.platform, p.external_id),
            text=text, url=_strip_userinfo(p.url), language=lang, created_at=p.created_at, author_key=p.author_key,
            content_hash=content_hash(text), raw=dict(p.raw) if p.raw else None,
            tags=tag_rows(c, version) if c is not None else (), classifier_version=version,
        ))
    return out


def _strip_userinfo(url: str | None) -> str | None:
    # a link is kept for human oversight, but never with a user:password in it
    return mask_url_credentials(url).replace("://***@", "://") if url else url


def ingest(session: Session, posts: Sequence[Post], source: SourceBase, tagger: Tagger | None,
           counts: IngestCounts | None = None) -> IngestCounts:
    """Clean → classify → store one batch of posts in ``session`` (the caller commits)."""
    counts = counts or IngestCounts()
    rows = prepare(posts, source, tagger, counts)
    new, dup = queries.store_posts(session, rows)
    counts.new += new
    counts.duplicate += dup
    return counts


_DONE = object()
_STOPPED = object()  # the collector was stopped (shutdown, lease lost) before it finished


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
        self._collectors: dict[str, Any] = {}

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
            for src in self.config.sources:
                if not src.enabled:
                    continue
                state = queries.get_state(s, src.id)
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
        try:
            taken = self._take(sources, keeper, summary, now, if_due or (only_due and not source_ids), on_result)
            if taken:
                keeper.start()
                self._collect(taken, summary, on_result)
        finally:
            keeper.stop()
            keeper.release_all()
            self._keeper = None
        return summary

    def _take(self, sources: list[SourceBase], keeper: leases.LeaseKeeper, summary: RunSummary, now: datetime,
              check_due: bool, on_result: Callable[[SourceResult], None] | None) -> list[tuple[SourceBase, Any, int]]:
        """Lease each source and open its run; (source, cursor, run id) for those we may collect."""
        taken = []
        for src in sources:
            if self.stop.is_set():
                break
            lease = leases.acquire(self.factory, src.id, self.owner, self.lease_ttl, now)
            if not lease.acquired:
                holder = lease.owner or "another run"
                res = SourceResult(src.id, src.kind, status="locked", error=f"being collected by {holder}")
                log.info("source '%s': locked, being collected by %s", src.id, holder, extra={"source_id": src.id})
                summary.results.append(res)
                if on_result:
                    on_result(res)
                continue
            keeper.add(src.id)
            with session_scope(self.factory) as s:
                if lease.previous_owner:
                    n = leases.close_abandoned_runs(s, src.id, lease.previous_owner, utcnow())
                    log.warning("source '%s': lease of %s had expired; taken over (%d unfinished runs closed)",
                                src.id, lease.previous_owner, n, extra={"source_id": src.id})
                state = queries.get_state(s, src.id)
                # Re-checked under the lease: another run may have collected it since we selected it.
                if check_due and (state.dead or not src.parsed_schedule.is_due(state.last_attempt_at, now)):
                    go = False
                else:
                    go = True
                    state.last_attempt_at = now
                    cursor = queries.cursor_of(state)
                    run_id = queries.start_run(s, src.id, self.owner).id
            if go:
                taken.append((src, cursor, run_id))
            else:
                keeper.release_all([src.id])
                summary.not_due.append(src.id)
        return taken

    def _collect(self, taken: list[tuple[SourceBase, Any, int]], summary: RunSummary,
                 on_result: Callable[[SourceResult], None] | None) -> None:
        sources = [src for src, _, _ in taken]
        states = {src.id: cursor for src, cursor, _ in taken}
        runs = {src.id: run_id for src, _, run_id in taken}
        events: queue.Queue = queue.Queue(maxsize=4 * self.config.settings.batch_size)
        results = {src.id: SourceResult(src.id, src.kind) for src in sources}
        started = {src.id: time.monotonic() for src in sources}
        buffers: dict[str, list[Post]] = {src.id: [] for src in sources}
        by_id = {src.id: src for src in sources}
        pending = set(by_id)
        workers = min(self.config.settings.concurrency, len(sources))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect") as pool:
            futures = [pool.submit(self._produce, src, states[src.id], events) for src in sources]
            try:
                self._consume(events, pending, by_id, results, buffers, started, runs, summary, on_result)
            except BaseException:
                # Unblock the collectors (they may wait on a full queue) so the pool can close.
                self.stop.set()
                while not all(f.done() for f in futures):
                    try:
                        events.get(timeout=0.1)
                    except queue.Empty:
                        pass
                raise
        self._close_collectors()

    def _consume(self, events: queue.Queue, pending: set[str], by_id: dict[str, SourceBase],
                 results: dict[str, SourceResult], buffers: dict[str, list[Post]], started: dict[str, float],
                 runs: dict[str, int], summary: RunSummary, on_result: Callable[[SourceResult], None] | None) -> None:
        while pending:
            sid, item = events.get()
            src, res = by_id[sid], results[sid]
            if isinstance(item, Post):
                buffers[sid].append(item)
                if len(buffers[sid]) >= self.config.settings.batch_size:
                    self._flush(src, buffers, res)
            elif isinstance(item, Checkpoint):
                self._flush(src, buffers, res, checkpoint=item)
                if item.not_modified:
                    res.status = "not_modified"
            elif isinstance(item, Warning_):
                res.warnings += 1
                log.warning("source '%s': %s", sid, item.message)
            elif item is _DONE or item is _STOPPED or isinstance(item, BaseException):
                self._flush(src, buffers, res)
                if isinstance(item, BaseException):
                    self._fail(res, item)
                elif item is _STOPPED:
                    lost = self._keeper is not None and sid in self._keeper.lost
                    res.status = "interrupted"
                    res.error = ("lease lost to another run" if lost
                                 else "stopped before the source was finished (shutdown)")
                res.duration_s = time.monotonic() - started[sid]
                self._finish(src, res, runs[sid], item if isinstance(item, BaseException) else None)
                pending.discard(sid)
                summary.results.append(res)
                if on_result:
                    on_result(res)

    def _collector(self, kind: str) -> Any:
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
        return self.stop.is_set() or (self._keeper is not None and source_id in self._keeper.lost)

    def _produce(self, src: SourceBase, state: Any, events: queue.Queue) -> None:
        try:
            if self._stopping(src.id):
                events.put((src.id, _STOPPED))
                return
            collector = self._collector(src.kind)
            for item in collector.collect(src, state):
                if self._stopping(src.id):
                    events.put((src.id, _STOPPED))
                    return
                events.put((src.id, item))
            events.put((src.id, _DONE))
        except BaseException as exc:  # noqa: BLE001 - reported per source, never fatal to others
            events.put((src.id, exc))

    def _flush(self, src: SourceBase, buffers: dict[str, list[Post]], res: SourceResult,
               checkpoint: Checkpoint | None = None) -> None:
        posts = buffers[src.id]
        buffers[src.id] = []
        if not posts and checkpoint is None:
            return
        counts = IngestCounts()
        with session_scope(self.factory) as s:
            if posts:
                ingest(s, posts, src, self.tagger, counts)
            if checkpoint is not None:
                # Same transaction as the posts it covers: both commit, or neither.
                queries.apply_checkpoint(queries.get_state(s, src.id), checkpoint)
        res.fetched += counts.fetched
        res.new += counts.new
        res.duplicate += counts.duplicate
        res.skipped += counts.skipped
        res.irrelevant += counts.irrelevant

    @staticmethod
    def _fail(res: SourceResult, exc: BaseException) -> None:
        if isinstance(exc, SourceSkipped):
            res.status, res.error = "skipped", str(exc)
        elif isinstance(exc, RateLimited):
            res.status, res.error = "deferred", str(exc)
        elif isinstance(exc, SourceError):
            res.status, res.error = "failed", str(exc)
        else:
            log.debug("source '%s' failed", res.source_id, exc_info=exc)
            res.status, res.error = "failed", f"source '{res.source_id}': unexpected {type(exc).__name__}: {exc}"

    def _finish(self, src: SourceBase, res: SourceResult, run_id: int, exc: BaseException | None) -> None:
        with session_scope(self.factory) as s:
            run = s.get(Run, run_id)
            run.finished_at = utcnow()
            run.status = res.status
            run.fetched, run.new, run.duplicate = res.fetched, res.new, res.duplicate
            run.skipped, run.irrelevant, run.warnings = res.skipped, res.irrelevant, res.warnings
            run.duration_s = round(res.duration_s, 3)
            run.error = res.error
            state = queries.get_state(s, src.id)
            if res.status in ("ok", "not_modified"):
                state.last_success_at = run.finished_at
                state.last_error = None
                state.consecutive_failures = 0
            elif res.status == "interrupted":
                pass  # a shutdown is not the source's fault; its cursor covers what was stored
            elif res.status == "failed":
                state.last_error = res.error
                state.consecutive_failures = (state.consecutive_failures or 0) + 1
                gone = type(exc).__name__ == "FeedGone"
                status = getattr(exc, "http_status", None)
                if gone or (status in (403, 404) and state.consecutive_failures >= DEAD_AFTER_FAILURES):
                    state.dead = True
            else:
                state.last_error = res.error
        level = logging.WARNING if res.status == "failed" else logging.INFO
        log.log(level, "source '%s': %s fetched=%d new=%d duplicate=%d skipped=%d irrelevant=%d in %.1fs%s",
                src.id, res.status, res.fetched, res.new, res.duplicate, res.skipped, res.irrelevant,
                res.duration_s, f" ({res.error})" if res.error else "",
                extra={"source_id": src.id, "n_posts": res.new, "elapsed_s": round(res.duration_s, 3),
                       "run_id": run_id})


def _version() -> str:
    from listener import __version__

    return __version__
