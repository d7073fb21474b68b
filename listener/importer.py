"""``listener import``: posts from another tool's export (JSONL or CSV) through the pipeline.

Every line goes the way a collected post goes (clean → language → mask → classify with
``listener.ingest.prepare``, then ``queries.store_posts``), in batches of ``batch_size`` so
that memory stays flat for files of any length. Batches are classified in forked worker
processes, at most two per worker in flight, and stored by this process in file order. Fields: ``text`` (required), ``url``, ``created_at`` (ISO 8601; a time
without zone is Amsterdam time), ``platform``, ``external_id``, ``author``, ``source``.
Without ``external_id`` a stable id is derived from the content, so importing a file twice
stores each post once. The author is stored only as ``author_key`` (a keyed hash). A line
that cannot be read is counted with its line number; the others are stored.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gc
import hashlib
import io
import itertools
import json
import logging
import multiprocessing
import os
import re
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker

from listener.config import SourceBase
from listener.errors import ConfigError, InputError
from listener.ingest import IngestCounts, prepare
from listener.models import Post
from listener.privacy import author_key, author_keyer, mask_text
from listener.reports.weeks import week_label
from listener.schedules import TZ
from listener.store import queries
from listener.store.db import session_scope
from listener.store.models import Run, Source, utcnow
from listener.tagging import Tagger

log = logging.getLogger(__name__)

BATCH = 500
ANALYZE_AFTER = 10_000  # new posts after which the planner statistics are refreshed
WORKER_BATCHES = 100  # batches a worker process prepares before a fresh one takes over
MAX_BAD_KEPT = 50  # line numbers kept for the report; all bad lines are counted
MAX_TEXT = 100_000
FIELDS = ("text", "url", "created_at", "platform", "external_id", "author", "source")
# Names other tools use for our fields (4CAT, twarc CSV, spreadsheets).
ALIASES = {"body": "text", "full_text": "text", "content": "text", "id": "external_id", "link": "url",
           "timestamp": "created_at", "date": "created_at", "author_username": "author", "author.username": "author",
           "user": "author", "username": "author"}
csv.field_size_limit(10_000_000)
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass
class ImportResult:
    path: str
    source_id: str
    lines: int = 0  # records read (good and bad)
    bad: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    counts: IngestCounts = field(default_factory=IngestCounts)
    elapsed_s: float = 0.0
    weeks_counted: list[str] = field(default_factory=list)  # complete weeks whose counts were stored
    counting_s: float = 0.0

    @property
    def good(self) -> int:
        return self.lines - self.bad

    def add_bad(self, line: int, reason: str) -> None:
        self.bad += 1
        if len(self.bad_lines) < MAX_BAD_KEPT:
            self.bad_lines.append((line, reason))


class _BadLine(ValueError):
    pass


def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    s = str(value).strip()
    if s.isdigit() and len(s) >= 9:
        return datetime.fromtimestamp(int(s), tz=timezone.utc)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise _BadLine(f"created_at is not an ISO 8601 date: {s[:40]!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=TZ)
    return dt.astimezone(timezone.utc)


@functools.lru_cache(maxsize=1024)  # an export repeats the same few keys on every line
def _field(key: str) -> str:
    key = key.strip().lstrip("\ufeff").lower()
    return key if key in FIELDS else ALIASES.get(key, "")


def _normalise(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in record.items():
        if not isinstance(k, str):
            continue
        key = _field(k)
        if key and (key not in out or out[key] in (None, "")):
            out[key] = v
    return out


def stable_id(platform: str, url: str | None, created_at: datetime | None, text: str) -> str:
    """An external id from the content: the same line imported again gets the same id."""
    basis = json.dumps([platform, url or "", created_at.isoformat() if created_at else "", text], ensure_ascii=False)
    # surrogatepass: a text with half an emoji (a lone surrogate escape) still gets its own id
    return "sha256:" + hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def to_post(record: dict[str, Any], source_id: str, default_platform: str, line: int, file_name: str) -> Post:
    """One input record as a Post; _BadLine with a reason when it cannot be one."""
    return _to_post(record, source_id, default_platform, line, file_name, author_key)


def _to_post(record: dict[str, Any], source_id: str, default_platform: str, line: int, file_name: str,
             keyer: Callable[[str, str | int | None], str | None]) -> Post:
    r = _normalise(record)
    text = r.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _BadLine("field 'text' is missing or empty")
    if len(text) > MAX_TEXT:
        raise _BadLine(f"field 'text' is longer than {MAX_TEXT} characters")
    platform = str(r.get("platform") or default_platform).strip().lower()[:32] or default_platform
    # A profile link names the author (x.com/<handle>/status/…): masked like links in the text.
    url = mask_text(str(r["url"]).strip()[:2000]) if r.get("url") not in (None, "") else None
    created = _parse_time(r.get("created_at"))
    ext = r.get("external_id")
    ext = str(ext).strip() if ext not in (None, "") else ""
    if not ext or len(ext) > 400:
        ext = stable_id(platform, url, created, text) if not ext else "sha256:" + hashlib.sha256(ext.encode()).hexdigest()[:40]
    author = r.get("author")
    raw: dict[str, Any] = {"imported_from": file_name, "line": line}
    if r.get("source") not in (None, ""):
        raw["origin"] = str(r["source"])[:200]
    return Post(platform=platform, source_id=source_id, external_id=ext, text=text, url=url, created_at=created,
                author_key=keyer(platform, str(author)) if author not in (None, "") else None, raw=raw)


def _detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if head.startswith(b"{") else "csv"


def _jsonl(fh: io.BufferedReader) -> Iterator[tuple[int, Any, str]]:
    # Raw lines: decoding is done by _records, in a worker process when there are workers.
    for n, raw in enumerate(fh, start=1):
        if n == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        if raw.strip():
            yield n, raw, ""


def _decode(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    if b"\\ud" in raw or b"\\uD" in raw:  # a \u escape of a surrogate: a lone one is not text
        for key, value in obj.items():
            # the text loses it when cleaned (an emoji cut in half); any other field would be stored as is
            field_name = ALIASES.get(key, key)
            if field_name in FIELDS and field_name != "text" and isinstance(value, str) and _SURROGATE.search(value):
                return None, f"field '{key}' is not valid Unicode (a lone surrogate escape)"
    return obj, ""


def _csv(fh: io.BufferedReader) -> Iterator[tuple[int, Any, str]]:
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="replace", newline="")
    try:
        yield from _csv_rows(text)
    finally:
        text.detach()  # the wrapper would close fh when collected; its position is still read


def _csv_rows(text: io.TextIOWrapper) -> Iterator[tuple[int, Any, str]]:
    header = text.readline()
    delimiter = max((";", ",", "\t"), key=header.count)
    names = next(csv.reader([header], delimiter=delimiter), [])
    if not any("text" in _normalise({n: 1}) for n in names):
        raise InputError("CSV has no 'text' column in its header line")
    reader = csv.DictReader(text, fieldnames=names, delimiter=delimiter, restkey="_extra")
    start = 2
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, None, f"unreadable CSV ({exc})"
            start = reader.line_num + 2
            continue
        line, start = start, reader.line_num + 2  # +1: the header line was read apart
        if row.get("_extra"):
            yield line, None, f"more fields than the header has ({len(names)})"
        elif None in row.values() and any(v not in (None, "") for v in row.values()):
            yield line, None, f"fewer fields than the header has ({len(names)})"
        elif not any((v or "").strip() for k, v in row.items() if k != "_extra"):
            continue
        else:
            yield line, row, ""


def ensure_source(session: Session, source_id: str) -> None:
    """The Source row of imported posts (kind 'import'); refuse an id used by a collected source."""
    src = session.get(Source, source_id)
    if src is None:
        now = utcnow()
        session.add(Source(id=source_id, kind="import", name=f"import {source_id}", config={"id": source_id, "kind": "import"},
                           first_seen_at=now, updated_at=now))
    elif src.kind != "import":
        raise ConfigError(f"--source: '{source_id}' is a {src.kind} source in sources.yaml; choose another id for imports")
    session.flush()


# What the worker processes need besides their batch; set before they are forked.
_CONTEXT: tuple[SourceBase, str, str, str, Tagger | None, Dialect] | None = None
Batch = tuple[list[tuple[int, Any, str]], int]  # (line number, raw line or CSV row or None, problem), bytes read
# (rows, counts, bad lines, lines read, bytes read, {(source id, external id): ISO week of created_at})
Prepared = tuple[queries.StoreRows, IngestCounts, list[tuple[int, str]], int, int, dict[tuple[str, str], str]]


def _prepare_batch(items: list[tuple[int, Any, str]], offset: int) -> Prepared:
    """Decode, validate, clean, mask, classify and serialise one batch: everything but storing."""
    assert _CONTEXT is not None
    source, source_id, default_platform, file_name, tagger, dialect = _CONTEXT
    posts: list[Post] = []
    bad: list[tuple[int, str]] = []
    keyer = author_keyer()  # the pseudonym key is looked up once per batch, not once per post
    for line, record, problem in items:
        if isinstance(record, bytes):
            record, problem = _decode(record)
        if record is None:
            bad.append((line, problem))
            continue
        try:
            posts.append(_to_post(record, source_id, default_platform, line, file_name, keyer))
        except _BadLine as exc:
            bad.append((line, str(exc)))
    counts = IngestCounts()
    ready = prepare(posts, source, tagger, counts) if posts else []
    weeks = {(p.source_id, p.external_id): week_label(p.created_at)
             for p in ready if p.created_at is not None}
    return queries.store_rows(ready, dialect), counts, bad, len(items), offset, weeks


def _batches(records: Iterator[tuple[int, Any, str]], fh: io.BufferedReader, size: int) -> Iterator[Batch]:
    items: list[tuple[int, Any, str]] = []
    for item in records:
        items.append(item)
        if len(items) >= size:
            yield items, fh.tell()
            items = []
    if items:
        yield items, fh.tell()


def _run(batches: Iterator[Batch], workers: int, tagger: Tagger | None, store: Callable[[Prepared], None]) -> None:
    """Prepare batches in ``workers`` forked processes (in order, at most 2 per worker in flight), store here."""
    first = next(batches, None)
    if first is None:
        return
    # The first batch runs here: a small file never starts processes, and the classifier is
    # loaded (lazily, once) before any worker is forked.
    store(_prepare_batch(*first))
    second = next(batches, None)
    if second is None:
        return
    if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
        log.info("import: no fork on this platform; classifying in this process")
        workers = 1
    if workers <= 1:
        with _frozen_heap():
            for batch in itertools.chain([second], batches):
                store(_prepare_batch(*batch))
        return
    if tagger is not None:
        tagger.version  # noqa: B018 - load the classifier once, here: the forked workers share it
    # A worker is replaced after WORKER_BATCHES batches: whatever the classifier caches per word
    # seen (the vocabulary of a million posts keeps growing) is given back, so memory stays flat.
    with _frozen_heap(), multiprocessing.get_context("fork").Pool(workers, maxtasksperchild=WORKER_BATCHES) as pool:
        pending: deque[Any] = deque()
        for batch in itertools.chain([second], batches):
            pending.append(pool.apply_async(_prepare_batch, batch))
            if len(pending) >= 2 * workers:
                store(pending.popleft().get())
        while pending:
            store(pending.popleft().get())


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the objects that exist now (the loaded classifier) out of garbage collection until the end.

    Every full collection walks every tracked object: with the model loaded that cost ~20 µs
    per post. Frozen before the workers are forked, the collector in the workers leaves the
    model's pages alone too, so they stay shared. Nothing that is kept or stored changes.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def default_workers() -> int:
    """Worker processes for classifying: one per CPU (the storing runs in the importing process)."""
    return os.cpu_count() or 1


def import_file(factory: sessionmaker[Session], path: str | Path, tagger: Tagger | None, source_id: str = "import",
                platform: str | None = None, fmt: str | None = None, batch_size: int = BATCH,
                progress: Callable[[int, int], None] | None = None, workers: int | None = None) -> ImportResult:
    """Import every readable line of ``path``; returns counts and the first bad line numbers.

    Lines are read in batches of ``batch_size``; each batch is cleaned and classified in one of
    ``workers`` processes (default: one per CPU; 1 = all in this process) and stored here in
    file order, one transaction per batch. ``progress(bytes_read, bytes_total)`` is called after
    every stored batch (for a progress bar). Raises InputError when the file cannot be opened or
    no line at all could be read.
    """
    global _CONTEXT
    p = Path(path)
    try:
        source = SourceBase(id=source_id, kind="import", schedule="1d", keep_irrelevant=False)
    except Exception:  # noqa: BLE001 - pydantic's message is long; ours names the rule
        raise ConfigError(f"--source: {source_id!r} is not a valid source id (lowercase letters, digits, . _ -)") from None
    try:
        fh = p.open("rb")
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc.strerror or exc}") from None
    kind = _detect_format(p, fmt)
    total = p.stat().st_size
    result = ImportResult(path=str(p), source_id=source_id)
    started = time.monotonic()
    with session_scope(factory) as s:
        ensure_source(s, source_id)
        run_id = queries.start_run(s, source_id, owner=f"import:{p.name}").id
        dialect = s.get_bind().dialect
    default_platform = (platform or "import").strip().lower() or "import"

    touched: set[str] = set()  # the weeks (of created_at) that received new posts

    def store(done: Prepared) -> None:
        rows, counts, bad, lines, offset, weeks = done
        result.lines += lines
        for line, reason in bad:
            result.add_bad(line, reason)
        if rows.received:
            inserted: list[tuple[str, str]] = []
            with session_scope(factory) as s:
                counts.new, counts.duplicate = queries.store_prepared(s, rows, inserted=inserted)
            touched.update(weeks[k] for k in inserted if k in weeks)
        c = result.counts
        c.fetched, c.new, c.duplicate = c.fetched + counts.fetched, c.new + counts.new, c.duplicate + counts.duplicate
        c.skipped, c.irrelevant = c.skipped + counts.skipped, c.irrelevant + counts.irrelevant
        if progress:
            progress(offset, total)

    status, error = "ok", None
    _CONTEXT = (source, source_id, default_platform, p.name, tagger, dialect)
    try:
        with fh:
            records = _jsonl(fh) if kind == "jsonl" else _csv(fh)
            _run(_batches(records, fh, batch_size), default_workers() if workers is None else workers, tagger, store)
    except BaseException as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:500]
        raise
    finally:
        _CONTEXT = None
        result.elapsed_s = time.monotonic() - started
        c = result.counts
        with session_scope(factory) as s:
            run = s.get(Run, run_id)
            run.finished_at, run.status, run.error = utcnow(), status, error
            run.fetched, run.new, run.duplicate = c.fetched, c.new, c.duplicate
            run.skipped, run.irrelevant, run.warnings = c.skipped, c.irrelevant, result.bad
            run.duration_s = round(result.elapsed_s, 3)
    if result.counts.new >= ANALYZE_AFTER:
        with session_scope(factory) as s:
            queries.refresh_statistics(s)
    if touched:
        # The report reads the weeks before its own from weekly_counts and counts those it finds
        # missing: after a bulk import, every one of them (17-21 s at 1,000,000 posts instead of 4).
        # Only the weeks the next reports read: an archive of two years would otherwise spend
        # minutes counting weeks that nobody may report (a report of one counts them then).
        from listener.reports.weekly import CHART_WEEKS, store_weekly_counts  # pandas: only when needed

        started = time.monotonic()
        result.weeks_counted = store_weekly_counts(factory, touched, recent=CHART_WEEKS)
        result.counting_s = time.monotonic() - started
    if result.good == 0:
        detail = f"{result.bad} bad lines" if result.bad else "no lines"
        raise InputError(f"{p}: nothing could be imported ({detail}"
                         + (f"; line {result.bad_lines[0][0]}: {result.bad_lines[0][1]}" if result.bad_lines else "") + ")")
    log.info("import %s: lines=%d bad=%d new=%d duplicate=%d in %.1fs", p.name, result.lines, result.bad,
             result.counts.new, result.counts.duplicate, result.elapsed_s)
    return result


def is_terminal() -> bool:
    return sys.stderr.isatty()
