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
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence

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
from listener.privacy import mask_text
from listener.store import queries
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
    status: str = "ok"  # ok | not_modified | failed | skipped | deferred
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
            source_id=p.source_id, platform=p.platform, external_id=p.external_id, text=text,
            url=p.url, language=lang, created_at=p.created_at, author_key=p.author_key,
            content_hash=content_hash(text), raw=dict(p.raw) if p.raw else None,
            tags=tag_rows(c, version) if c is not None else (), classifier_version=version,
        ))
    return out


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


class Pipeline:
    """Runs sources once: collectors in threads, storing in this thread."""

    def __init__(self, config: Config, factory: sessionmaker[Session], tagger: Tagger | None,
                 ctx: CollectContext | None = None, owner: str | None = None) -> None:
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
        )
        self.owner = owner or run_owner()
        self.stop = threading.Event()  # set by a signal handler: finish the batch in hand, then stop
        self._collectors: dict[str, Any] = {}

    # -- selection -------------------------------------------------------------------------

    def select(self, source_ids: Iterable[str] | None, only_due: bool, now: datetime) -> tuple[list[SourceBase], list[str]]:
        """The sources to run now, and the ids of those not due yet."""
        wanted = list(source_ids or [])
        if wanted:
            chosen = [self.config.source(sid) for sid in wanted]
            return chosen, []
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
            on_result: Callable[[SourceResult], None] | None = None) -> RunSummary:
        """Collect the chosen (or every due) source once; one failure never stops the others."""
        now = datetime.now(timezone.utc)
        if source_ids:
            with session_scope(self.factory) as s:
                queries.sync_sources(s, self.config.sources)
        sources, not_due = self.select(source_ids, only_due, now)
        summary = RunSummary(not_due=not_due)
        if not sources:
            return summary
        events: queue.Queue = queue.Queue(maxsize=4 * self.config.settings.batch_size)
        states = {}
        runs = {}
        with session_scope(self.factory) as s:
            for src in sources:
                state = queries.get_state(s, src.id)
                state.last_attempt_at = now
                states[src.id] = queries.cursor_of(state)
                runs[src.id] = queries.start_run(s, src.id, self.owner).id
        results = {src.id: SourceResult(src.id, src.kind) for src in sources}
        started = {src.id: time.monotonic() for src in sources}
        buffers: dict[str, list[Post]] = {src.id: [] for src in sources}
        by_id = {src.id: src for src in sources}
        pending = set(by_id)
        workers = min(self.config.settings.concurrency, len(sources))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect") as pool:
            for src in sources:
                pool.submit(self._produce, src, states[src.id], events)
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
                elif item is _DONE or isinstance(item, BaseException):
                    self._flush(src, buffers, res)
                    if isinstance(item, BaseException):
                        self._fail(res, item)
                    res.duration_s = time.monotonic() - started[sid]
                    self._finish(src, res, runs[sid], item if isinstance(item, BaseException) else None)
                    pending.discard(sid)
                    summary.results.append(res)
                    if on_result:
                        on_result(res)
        self._close_collectors()
        return summary

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

    def _produce(self, src: SourceBase, state: Any, events: queue.Queue) -> None:
        try:
            collector = self._collector(src.kind)
            for item in collector.collect(src, state):
                if self.stop.is_set():
                    break
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
                res.duration_s, f" ({res.error})" if res.error else "")


def _version() -> str:
    from listener import __version__

    return __version__
