"""Reddit collector: read-only search in listed subreddits through praw, or their public RSS.

With ``REDDIT_CLIENT_ID``, ``REDDIT_CLIENT_SECRET`` and ``REDDIT_USER_AGENT`` in the
environment, praw searches the subreddits (newest first) and optionally reads the comments of
new submissions. The cursor is ``<created_utc>:<id>`` of the newest submission seen. Without
credentials the source falls back to Reddit's public search feed for the same subreddits
(``/r/a+b/search.rss``) through the RSS collector, and says so in a warning.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import datetime, timezone
from typing import Any, Iterator
from urllib.parse import quote, quote_plus

import praw
import prawcore
import requests
from prawcore.rate_limit import RateLimiter
from pydantic import Field, field_validator

from listener.collectors.base import CollectContext, Item, register
from listener.collectors.common import build_queries, one_line, resolve_keywords, wait_or_defer
from listener.collectors.http_util import session_for
from listener.collectors.rss import RssCollector, RssSource
from listener.config import SourceBase
from listener.errors import CredentialsError, RateLimited, SourceError
from listener.models import Checkpoint, CursorState, Post, Warning_
from listener.privacy import author_key

log = logging.getLogger(__name__)

ENV_ID, ENV_SECRET, ENV_AGENT = "REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USER_AGENT"
OAUTH_URL = "https://oauth.reddit.com"
REDDIT_URL = "https://www.reddit.com"
QUERY_LIMIT = 512
GONE = {"[deleted]", "[removed]", ""}
# Reddit's RSS appends "submitted by /u/NAME [link] [comments]": a handle, so it goes.
_RSS_TRAILER = re.compile(r"\s*submitted by\s+/u/\S+.*\Z", re.DOTALL | re.IGNORECASE)
_SUBREDDIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}$")

_fallback_noted: set[str] = set()
_fallback_lock = threading.Lock()


class RedditSource(SourceBase):
    """``kind: reddit`` — keyword search within listed subreddits."""

    subreddits: list[str] = Field(min_length=1)
    keywords: str | list[str]  # a keyword-set name or explicit phrases
    include_comments: bool = False
    max_items: int = Field(default=100, ge=1, le=1000)  # submissions per run

    @field_validator("subreddits")
    @classmethod
    def _subs(cls, v: list[str]) -> list[str]:
        out = []
        for s in v:
            name = str(s).strip().removeprefix("/").removeprefix("r/")
            if not _SUBREDDIT.match(name):
                raise ValueError(f"'{s}' is not a subreddit name")
            out.append(name)
        return out


class ContextRateLimiter(RateLimiter):
    """prawcore's limiter, sleeping with the injected clock and deferring long waits.

    prawcore paces requests from Reddit's x-ratelimit headers with a real ``time.sleep``; a spent
    quota would block a worker up to ten minutes. Short pacing waits are kept; a wait for an
    exhausted quota longer than ``ctx.max_wait_s`` defers the source instead.
    """

    def __init__(self, ctx: CollectContext, source_id: str, window_size: int) -> None:
        super().__init__(window_size=window_size)
        self.ctx, self.source_id = ctx, source_id

    def delay(self) -> None:
        if self.next_request_timestamp_ns is None:
            return
        wait = (self.next_request_timestamp_ns - time.monotonic_ns()) / 1e9
        self.next_request_timestamp_ns = None
        if wait <= 0:
            return
        if self.remaining is not None and self.remaining <= 0 and wait > self.ctx.max_wait_s:
            raise RateLimited(f"source '{self.source_id}': Reddit rate limit reached; resets in {wait:.0f}s, "
                              f"more than the {self.ctx.max_wait_s:g}s we wait; deferred to the next run")
        self.ctx.sleep(wait)

    def forget(self) -> None:
        """After our own wait for a 429: do not wait a second time."""
        self.next_request_timestamp_ns = None
        self.remaining = None


def strip_rss_trailer(summary: str) -> str:
    """Reddit RSS text without its "submitted by /u/NAME [link] [comments]" line, or [deleted]."""
    text = _RSS_TRAILER.sub("", summary).strip()
    return "" if text in GONE else text


def parse_cursor(cursor: str | None) -> tuple[float, int] | None:
    """``"1700000000.0:abc12"`` → (created_utc, id as int); None when absent or unreadable."""
    if not cursor or ":" not in cursor:
        return None
    t, _, rid = cursor.partition(":")
    try:
        return float(t), int(rid, 36)
    except ValueError:
        return None


def _utc(ts: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError):
        return None


def _author(obj: dict[str, Any]) -> str | None:
    a = obj.get("author")
    name = getattr(a, "name", None) if a is not None else None
    return author_key("reddit", name) if name and name not in GONE else None


def submission_to_post(d: dict[str, Any], source_id: str) -> Post | None:
    """A Post from a submission's attributes; None when deleted or removed."""
    if d.get("removed_by_category") or d.get("selftext") in ("[deleted]", "[removed]"):
        return None
    title = (d.get("title") or "").strip()
    if title in GONE:
        return None
    body = (d.get("selftext") or "").strip()
    text = f"{title}\n{body}" if body else title
    sub = d.get("subreddit")
    return Post(
        platform="reddit",
        source_id=source_id,
        external_id=f"t3_{d['id']}",
        text=text,
        url=f"https://www.reddit.com{d['permalink']}" if d.get("permalink") else None,
        language=None,  # Reddit has no language field; the run loop detects it
        created_at=_utc(d.get("created_utc")),
        author_key=_author(d),
        raw={"subreddit": str(getattr(sub, "display_name", sub) or "")[:50],
             "score": d.get("score"), "num_comments": d.get("num_comments")},
    )


def comment_to_post(d: dict[str, Any], source_id: str, submission_id: str) -> Post | None:
    """A Post from a comment's attributes; None when deleted or removed."""
    body = (d.get("body") or "").strip()
    if body in GONE:
        return None
    return Post(
        platform="reddit",
        source_id=source_id,
        external_id=f"t1_{d['id']}",
        text=body,
        url=f"https://www.reddit.com{d['permalink']}" if d.get("permalink") else None,
        created_at=_utc(d.get("created_utc")),
        author_key=_author(d),
        raw={"submission": f"t3_{submission_id}", "score": d.get("score")},
    )


@register("reddit")
class RedditCollector:
    """Reddit search; safe to share between threads (one praw instance per call)."""

    kind = "reddit"
    Config = RedditSource

    def __init__(self, ctx: CollectContext, oauth_url: str = OAUTH_URL, reddit_url: str = REDDIT_URL,
                 rss_base: str = REDDIT_URL) -> None:
        self.ctx = ctx
        self.oauth_url, self.reddit_url, self.rss_base = oauth_url, reddit_url, rss_base.rstrip("/")
        self._rss = RssCollector(ctx, summary_filter=strip_rss_trailer)

    def close(self) -> None:
        self._rss.close()

    def collect(self, source: RedditSource, state: CursorState) -> Iterator[Item]:
        phrases = resolve_keywords(source.keywords, self.ctx, source.id)
        if not phrases:
            raise SourceError(f"source '{source.id}': the keyword set is empty")
        queries, dropped = build_queries(phrases, "", QUERY_LIMIT)
        if dropped:
            yield Warning_(f"{len(dropped)} phrase(s) too long for a Reddit query were left out")
        creds = [(self.ctx.env.get(k) or "").strip() for k in (ENV_ID, ENV_SECRET, ENV_AGENT)]
        if all(creds):
            yield from self._api(source, state, queries, *creds)
        else:
            yield from self._fallback(source, state, queries)

    # --- praw ------------------------------------------------------------------------------

    def _reddit(self, source: RedditSource, client_id: str, secret: str, agent: str) -> tuple[praw.Reddit, ContextRateLimiter]:
        reddit = praw.Reddit(
            client_id=client_id, client_secret=secret,
            user_agent=f"{agent} ({self.ctx.user_agent})",
            oauth_url=self.oauth_url, reddit_url=self.reddit_url,
            check_for_updates=False, check_for_async=False, timeout=self.ctx.timeout_s,
            requestor_kwargs={"session": session_for(self.ctx.timeout_s)},
        )
        limiter = ContextRateLimiter(self.ctx, source.id, int(reddit.config.window_size))
        for core in (getattr(reddit, "_read_only_core", None), getattr(reddit, "_authorized_core", None)):
            if core is not None and hasattr(core, "_rate_limiter"):
                core._rate_limiter = limiter
        return reddit, limiter

    def _api(self, source: RedditSource, state: CursorState, queries: list[str],
             client_id: str, secret: str, agent: str) -> Iterator[Item]:
        reddit, limiter = self._reddit(source, client_id, secret, agent)
        since = parse_cursor(state.cursor)
        newest: tuple[float, int, str] | None = None
        n = 0
        subs = reddit.subreddit("+".join(source.subreddits))
        for query in queries:
            for d in self._search(subs, source, query, limiter):
                key = (float(d.get("created_utc") or 0), int(d["id"], 36))
                if since is not None and key <= since:
                    break  # newest first: everything from here on was seen
                if newest is None or key > newest[:2]:
                    newest = (key[0], key[1], d["id"])
                post = submission_to_post(d, source.id)
                if post is None:
                    continue
                yield post
                n += 1
                if source.include_comments and d.get("num_comments"):
                    yield from self._comments(reddit, source, d["id"])
                if n >= min(source.max_items, self.ctx.max_items_per_run):
                    yield Warning_(f"stopped at {n} submissions for this query (max_items)")
                    break
        if newest is not None:
            yield Checkpoint(cursor=f"{newest[0]:.0f}:{newest[2]}")
        else:
            yield Checkpoint()

    def _search(self, subs: Any, source: RedditSource, query: str,
                limiter: ContextRateLimiter) -> Iterator[dict[str, Any]]:
        listing = subs.search(query, sort="new", time_filter="all", limit=source.max_items)
        attempts = 0
        while True:
            try:
                for submission in listing:
                    # vars(): praw fetches a missing attribute lazily; we never want that.
                    yield vars(submission)
                return
            except prawcore.TooManyRequests as exc:
                attempts += 1
                if attempts > 3:
                    raise SourceError(f"source '{source.id}': Reddit kept answering 429") from None
                reset = exc.response.headers.get("x-ratelimit-reset") or exc.retry_after
                reset_at = self.ctx.now().timestamp() + float(reset) if reset else None
                wait_or_defer(self.ctx, source.id, "Reddit", reset_at)
                limiter.forget()
                # The listing generator remembers where it stopped ("after"), so it resumes.
            except Exception as exc:  # noqa: BLE001 - mapped to one-line source errors
                raise self._error(source, exc) from None

    def _comments(self, reddit: praw.Reddit, source: RedditSource, sid: str) -> Iterator[Post]:
        try:
            submission = reddit.submission(id=sid)
            submission.comments.replace_more(limit=0)
            comments = submission.comments.list()
        except Exception as exc:  # noqa: BLE001
            raise self._error(source, exc) from None
        for c in comments:
            post = comment_to_post(vars(c), source.id, sid)
            if post is not None:
                yield post

    def _error(self, source: RedditSource, exc: BaseException) -> SourceError:
        sid = source.id
        if isinstance(exc, prawcore.OAuthException):
            return CredentialsError(f"source '{sid}': Reddit refused the app credentials; check {ENV_ID} and {ENV_SECRET}")
        if isinstance(exc, prawcore.ResponseException):
            status = exc.response.status_code
            if status == 401:
                return CredentialsError(f"source '{sid}': Reddit refused the app credentials (HTTP 401); "
                                        f"check {ENV_ID} and {ENV_SECRET}")
            if isinstance(exc, prawcore.Redirect) or status == 404:
                return SourceError(f"source '{sid}': a subreddit in {'+'.join(source.subreddits)} does not exist")
            if status == 403:
                return SourceError(f"source '{sid}': Reddit answered 403 (a private, banned or quarantined subreddit?)")
            return SourceError(f"source '{sid}': Reddit answered HTTP {status}")
        if isinstance(exc, prawcore.RequestException):
            orig = getattr(exc, "original_exception", exc)
            if isinstance(orig, requests.Timeout):
                return SourceError(f"source '{sid}': Reddit timed out after {self.ctx.timeout_s:g}s")
            return SourceError(f"source '{sid}': Reddit request failed: {type(orig).__name__}")
        if isinstance(exc, (ValueError, KeyError, TypeError)):
            return SourceError(f"source '{sid}': Reddit sent an unreadable body ({type(exc).__name__})")
        if isinstance(exc, SourceError):
            return exc
        return SourceError(f"source '{sid}': Reddit failed: {type(exc).__name__}: {one_line(exc)}")

    # --- RSS fallback ----------------------------------------------------------------------

    def feed_url(self, subreddits: list[str], query: str) -> str:
        """Reddit's public search feed for several subreddits at once (a multireddit)."""
        subs = quote("+".join(subreddits), safe="+")
        return f"{self.rss_base}/r/{subs}/search.rss?q={quote_plus(query)}&restrict_sr=1&sort=new"

    def _fallback(self, source: RedditSource, state: CursorState, queries: list[str]) -> Iterator[Item]:
        note = (f"no {ENV_ID}/{ENV_SECRET}/{ENV_AGENT}: reading Reddit's public search RSS instead "
                "(titles and text only, no comments, fewer results)")
        with _fallback_lock:
            first = source.id not in _fallback_noted
            _fallback_noted.add(source.id)
        if first:
            log.warning("source '%s': %s", source.id, note)
        yield Warning_(note)
        single = len(queries) == 1
        for query in queries:
            feed = RssSource(id=source.id, kind="rss", url=self.feed_url(source.subreddits, query),
                             platform="reddit", languages=source.languages)
            # ETag/Last-Modified fit one URL; with several queries no validators are kept.
            for item in self._rss.collect(feed, state if single else CursorState()):
                if isinstance(item, Post):
                    if item.text not in GONE:
                        yield item
                elif isinstance(item, Checkpoint):
                    if single:
                        yield item
                    elif item.not_modified:
                        continue
                else:
                    yield item
        if not single:
            yield Checkpoint()
