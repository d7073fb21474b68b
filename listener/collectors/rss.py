"""RSS/Atom collector: httpx fetches (ours: timeouts, size cap, redirects), feedparser parses.

``file://`` URLs and local paths go through the same parsing, which is how the bundled demo
samples and the tests read feeds offline. One collector serves every feed of a run from the
run loop's thread pool, so it keeps no per-feed state: everything a feed needs between runs
travels in ``CursorState`` (ETag, Last-Modified).
"""

from __future__ import annotations

import calendar
import hashlib
import io
import logging
import re
import threading
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import unquote, urlparse, urlsplit

import feedparser
import httpx
from pydantic import field_validator

from listener.collectors.base import CollectContext, Item, register
from listener.config import SourceBase
from listener.errors import RateLimited, SourceError
from listener.models import Checkpoint, CursorState, Post, Warning_
from listener.text import html_to_text, join_title_summary

log = logging.getLogger(__name__)

# Connections kept open per collector: the run loop fetches at most 64 feeds at a time.
MAX_KEEPALIVE = 64

ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5"
# Only these response headers reach feedparser: it needs the charset, nothing else.
_PASS_HEADERS = ("content-type", "content-language")


class HttpStatusError(SourceError):
    """A feed answered with an HTTP error status; ``http_status`` lets the run loop count 404/403."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class FeedGone(HttpStatusError):
    """The feed answered 410 Gone: the run loop marks it dead (404/403 count towards dead)."""

    def __init__(self, message: str, http_status: int | None = 410) -> None:
        super().__init__(message, http_status)


class RssSource(SourceBase):
    """An RSS or Atom feed: ``url`` is http(s), ``file://`` or a local path."""

    url: str
    platform: str = "rss"  # e.g. "mastodon" for a Mastodon hashtag feed, "news" for Google News

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("URL is empty")
        scheme = urlparse(v).scheme.lower()
        if scheme in ("http", "https"):
            if not urlparse(v).netloc:
                raise ValueError(f"URL has no host: {v!r}")
        elif scheme not in ("", "file") and len(scheme) > 1:  # 'c:' is a Windows drive
            raise ValueError(f"unsupported URL scheme '{scheme}' (use http, https, file or a path)")
        return v

    @field_validator("platform")
    @classmethod
    def _platform(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", v):
            raise ValueError("must be a short lowercase name such as 'rss', 'mastodon' or 'news'")
        return v


def local_path(url: str, base: Path | None = None) -> Path | None:
    """The file a ``file://`` URL or plain path points to; None for http(s)."""
    parsed = urlparse(url)
    if parsed.scheme.lower() in ("http", "https"):
        return None
    if parsed.scheme.lower() == "file":
        p = Path(unquote(parsed.netloc + parsed.path) if parsed.netloc not in ("", "localhost") else unquote(parsed.path))
    else:
        p = Path(url).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    return p


# --- XML safety ------------------------------------------------------------------------------

_ROOT_START = re.compile(rb"<[A-Za-z_]")
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)


def _prolog(body: bytes) -> bytes:
    """The bytes before the root element, as ASCII-compatible bytes (UTF-16 is narrowed)."""
    head = body[:1_000_000]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(head) > 1 and (head[0] == 0 or head[1] == 0)):
        enc = "utf-16-be" if head[:2] == b"\xfe\xff" or head[0] == 0 else "utf-16-le"
        head = head.decode(enc, errors="ignore").encode("ascii", errors="ignore")
    m = _ROOT_START.search(head)
    return head[: m.start()] if m else head


def check_xml_safety(body: bytes) -> str | None:
    """Why a feed body must not be parsed, or None.

    Entity declarations in the DOCTYPE are how "billion laughs" expansion and external-entity
    (XXE) reads work; no real news feed needs them, so a feed that declares any is refused
    before any XML parser sees it.
    """
    if _ENTITY_DECL.search(_prolog(body)):
        return "the feed declares XML entities in its DOCTYPE (entity expansion / external entity); refused"
    return None


# --- entries → posts -------------------------------------------------------------------------

def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        st = entry.get(key)
        if st:
            try:
                return datetime.fromtimestamp(calendar.timegm(st), tz=timezone.utc)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _external_id(entry: Any, text: str) -> str:
    # feedparser maps <guid> and Atom <id> to "id"; without them the link, then the text.
    for key in ("id", "guid", "link"):
        v = entry.get(key)
        if isinstance(v, str) and v.strip():
            return v.strip()[:500]
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def entries_to_posts(parsed: Any, source: RssSource | SourceBase, platform: str | None = None,
                     summary_filter: Callable[[str], str] | None = None) -> Iterator[Post]:
    """Turn feedparser entries into Posts (title plus summary as plain text).

    ``summary_filter`` edits the plain-text summary first (e.g. drops a "submitted by" line).
    """
    platform = platform or getattr(source, "platform", "rss")
    feed_title = html_to_text(parsed.feed.get("title"))[:200] if parsed.get("feed") else ""
    for entry in parsed.entries:
        try:
            title = html_to_text(entry.get("title"))
            summary = entry.get("summary") or ""
            if not summary and entry.get("content"):
                summary = entry["content"][0].get("value", "")
            summary_text = html_to_text(summary)
            if summary_filter is not None:
                summary_text = summary_filter(summary_text)
            text = join_title_summary(title, summary_text)
            if not text:
                continue
            link = entry.get("link")
            raw: dict[str, Any] = {"feed_title": feed_title} if feed_title else {}
            yield Post(
                platform=platform,
                source_id=source.id,
                external_id=_external_id(entry, text),
                text=text,
                url=link if isinstance(link, str) and link.startswith(("http://", "https://")) else None,
                language=None,  # feeds rarely label entries; the run loop detects it
                created_at=_entry_time(entry),
                raw=raw,
            )
        except (AttributeError, TypeError, ValueError, KeyError) as exc:  # one odd entry loses only itself
            log.debug("source '%s': unreadable entry skipped: %s", source.id, exc)


def parse_feed(body: bytes, headers: dict[str, str], source_id: str) -> tuple[Any, Warning_ | None]:
    """Parse a feed body safely; SourceError when nothing is readable, a warning when partly."""
    if not body.strip():
        raise SourceError(f"source '{source_id}': malformed feed (empty response body)")
    refusal = check_xml_safety(body)
    if refusal:
        raise SourceError(f"source '{source_id}': {refusal}")
    # A BytesIO, never the bytes themselves: feedparser treats some strings as URLs or paths.
    # Its HTML sanitizer and relative-link resolver rewrite markup that html_to_text turns into
    # plain text anyway (dropping scripts and styles itself); skipping them saves a third of the
    # parse time. Entry links are still resolved against the feed's base.
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers={k: v for k, v in headers.items() if k in _PASS_HEADERS},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    if parsed.bozo and not parsed.entries:
        exc = parsed.get("bozo_exception")
        benign = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
        if not parsed.get("version") or not isinstance(exc, benign):
            reason = str(exc).splitlines()[0][:200] if exc else "not a feed"
            raise SourceError(f"source '{source_id}': malformed feed ({type(exc).__name__}: {reason})")
    if parsed.bozo:
        exc = parsed.get("bozo_exception")
        msg = str(exc).splitlines()[0][:200] if exc else "unknown"
        return parsed, Warning_(f"feed has errors but {len(parsed.entries)} entries were readable: "
                                f"{type(exc).__name__}: {msg}")
    return parsed, None


def feed_to_posts(body: bytes, headers: dict[str, str], source: RssSource,
                  summary_filter: Callable[[str], str] | None = None) -> tuple[list[Post], Warning_ | None]:
    """Parse a body into Posts in one call (a module-level function, so a process pool can run it)."""
    parsed, warning = parse_feed(body, headers, source.id)
    return list(entries_to_posts(parsed, source, summary_filter=summary_filter)), warning


# --- the collector ---------------------------------------------------------------------------

def _retry_after_s(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


@register("rss")
class RssCollector:
    """Reads one feed per ``collect`` call; safe to share between threads."""

    kind = "rss"
    Config = RssSource

    def __init__(self, ctx: CollectContext, base_dir: Path | None = None,
                 transport: httpx.BaseTransport | None = None,
                 summary_filter: Callable[[str], str] | None = None) -> None:
        self.ctx = ctx
        self.summary_filter = summary_filter
        # Relative paths are relative to the sources.yaml directory when the run loop says so.
        self.base_dir = base_dir if base_dir is not None else ctx.base_dir
        self._transport = transport
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._hosts: dict[str, threading.BoundedSemaphore] = {}  # requests in flight per origin

    @property
    def client(self) -> httpx.Client:
        with self._lock:  # one shared pool for all threads; created once
            if self._client is None:
                self._client = httpx.Client(
                    follow_redirects=True,
                    max_redirects=self.ctx.max_redirects,
                    timeout=httpx.Timeout(self.ctx.timeout_s),
                    limits=httpx.Limits(max_connections=100, max_keepalive_connections=MAX_KEEPALIVE),
                    transport=self._transport,
                    headers={
                        "User-Agent": self.ctx.user_agent,
                        "Accept": ACCEPT,
                        "Accept-Encoding": "gzip, deflate",
                    },
                )
            return self._client

    def _host_slot(self, url: str) -> threading.BoundedSemaphore:
        """The semaphore that bounds the requests in flight to ``url``'s origin (scheme, host, port)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2].lower()}"
        with self._lock:
            slot = self._hosts.get(origin)
            if slot is None:
                slot = self._hosts[origin] = threading.BoundedSemaphore(self.ctx.max_per_host)
            return slot

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def collect(self, source: RssSource, state: CursorState) -> Iterator[Item]:
        path = local_path(source.url, self.base_dir)
        if path is not None:
            body, headers = self._read_file(source, path), {}
            etag = last_modified = None
        else:
            fetched = self._fetch(source, state)
            if fetched is None:
                yield Checkpoint(not_modified=True)
                return
            body, headers = fetched
            etag, last_modified = headers.get("etag"), headers.get("last-modified")
        posts, warning = feed_to_posts(body, headers, source, self.summary_filter)
        if warning:
            yield warning
        n = 0
        for post in posts:
            if n >= self.ctx.max_items_per_run:
                yield Warning_(f"more than {self.ctx.max_items_per_run} entries; the rest were left out")
                break
            n += 1
            yield post
        # The validators are stored only after the entries they cover were committed.
        yield Checkpoint(etag=etag, last_modified=last_modified)

    def _read_file(self, source: RssSource, path: Path) -> bytes:
        try:
            with path.open("rb") as fh:
                body = fh.read(self.ctx.max_body_bytes + 1)
        except OSError as exc:
            raise SourceError(f"source '{source.id}': cannot read {path}: {exc.strerror or exc}") from None
        if len(body) > self.ctx.max_body_bytes:
            raise SourceError(f"source '{source.id}': {path} is larger than the {self.ctx.max_body_bytes} byte cap")
        return body

    def _fetch(self, source: RssSource, state: CursorState) -> tuple[bytes, dict[str, str]] | None:
        headers = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        cap = self.ctx.max_body_bytes
        url = source.url
        try:
            with self._host_slot(url), self.client.stream("GET", url, headers=headers) as resp:
                # httpx times each read; a server dripping bytes must not hold a worker forever.
                deadline = time.monotonic() + self.ctx.timeout_s
                status = resp.status_code
                if status == 304:
                    return None
                if status == 410:
                    raise FeedGone(f"source '{source.id}': HTTP 410 Gone from {url}")
                if status in (429, 503):
                    wait = _retry_after_s(resp.headers.get("retry-after"), self.ctx.now())
                    hint = f" (retry after {wait:.0f}s)" if wait is not None else ""
                    raise RateLimited(f"source '{source.id}': HTTP {status} from {url}{hint}; deferred to the next run")
                if status >= 400:
                    raise HttpStatusError(f"source '{source.id}': HTTP {status} from {url}", status)
                if not 200 <= status < 300 or status == 204:
                    raise HttpStatusError(f"source '{source.id}': unexpected HTTP {status} from {url}", status)
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > cap:
                    raise SourceError(f"source '{source.id}': response of {int(declared)} bytes exceeds the {cap} byte cap")
                chunks, size = [], 0
                # iter_bytes yields decoded bytes, so the cap also stops a gzip bomb.
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > cap:
                        raise SourceError(f"source '{source.id}': response larger than the {cap} byte cap; cut off")
                    if time.monotonic() > deadline:
                        raise SourceError(f"source '{source.id}': body not received within {self.ctx.timeout_s:g}s of its headers")
                    chunks.append(chunk)
                return b"".join(chunks), {k.lower(): v for k, v in resp.headers.items()}
        except httpx.TooManyRedirects:
            raise SourceError(f"source '{source.id}': more than {self.ctx.max_redirects} redirects from {url}") from None
        except httpx.TimeoutException:
            raise SourceError(f"source '{source.id}': timed out after {self.ctx.timeout_s:g}s ({url})") from None
        except httpx.DecodingError:
            raise SourceError(f"source '{source.id}': the response body could not be decompressed") from None
        except httpx.HTTPError as exc:
            raise SourceError(f"source '{source.id}': {type(exc).__name__}: {str(exc)[:200]}") from None
