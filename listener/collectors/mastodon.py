"""Mastodon collector: public hashtag timelines and, with a token, status search (Mastodon.py).

Hashtag timelines are public on most instances and need no account. Status search needs an
access token on every instance we know (``MASTODON_ACCESS_TOKEN``); without one the source
collects hashtags only and says so. The cursor is the newest status id seen (``since_id``),
moved once at the end of a run; ids are per instance, so each source has one ``instance``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Iterator

import requests
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)
from pydantic import Field, field_validator, model_validator

from listener.collectors.base import CollectContext, Item, register
from listener.collectors.common import (
    cap_posts,
    hashtags,
    instance_host,
    one_line,
    parse_reset,
    parse_time,
    platform_language,
    wait_or_defer,
)
from listener.collectors.http_util import session_for
from listener.config import SourceBase
from listener.errors import CredentialsError, SourceError
from listener.models import Checkpoint, CursorState, Post, Warning_
from listener.privacy import author_key
from listener.text import html_to_text

log = logging.getLogger(__name__)

TOKEN_ENV = "MASTODON_ACCESS_TOKEN"
PAGE_LIMIT = 40  # the API maximum for timelines
MAX_RATE_RETRIES = 3


class MastodonSource(SourceBase):
    """``kind: mastodon`` — hashtag timelines and searches on one instance."""

    instance: str  # host name, e.g. mastodon.nl (https:// is added)
    hashtags: list[str] = Field(default_factory=list)
    search: list[str] = Field(default_factory=list)  # phrases; needs MASTODON_ACCESS_TOKEN
    local_only: bool = False  # only posts made on this instance
    max_pages: int = Field(default=5, ge=1, le=50)  # per hashtag or phrase and run

    @field_validator("instance")
    @classmethod
    def _instance(cls, v: str) -> str:
        return instance_host(v)

    @field_validator("hashtags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        return hashtags(v)

    @model_validator(mode="after")
    def _something(self) -> "MastodonSource":
        if not self.hashtags and not self.search:
            raise ValueError("give 'hashtags' or 'search' (or both)")
        return self


def _host_of(url: str | None) -> str | None:
    m = re.match(r"https?://([^/]+)/", url or "")
    return m.group(1).lower() if m else None


def status_to_post(st: dict[str, Any], source_id: str, instance: str) -> Post | None:
    """A Post from a Mastodon status; None for boosts, private or empty statuses."""
    if st.get("reblog") or st.get("visibility") not in ("public", "unlisted", None):
        return None
    text = html_to_text(st.get("content"))
    cw = (st.get("spoiler_text") or "").strip()
    if cw:
        text = f"{cw}\n{text}" if text else cw
    if not text or not st.get("id"):
        return None
    acct = (st.get("account") or {}).get("acct") or ""
    if acct and "@" not in acct:  # a local account: make it global
        acct = f"{acct}@{instance}"
    tags = [t.get("name") for t in st.get("tags") or [] if isinstance(t, dict) and t.get("name")]
    created = st.get("created_at")
    return Post(
        platform="mastodon",
        source_id=source_id,
        # The uri is the same whichever instance we read the status on.
        external_id=str(st.get("uri") or f"https://{instance}/statuses/{st['id']}")[:500],
        text=text,
        url=st.get("url") or st.get("uri"),
        language=platform_language(st.get("language")),
        created_at=created if hasattr(created, "tzinfo") else parse_time(created),
        author_key=author_key("mastodon", acct) if acct else None,
        raw={"id": str(st["id"]), "instance": instance, "origin": _host_of(st.get("uri")),
             "tags": tags[:10], "replies": st.get("replies_count"), "reblogs": st.get("reblogs_count"),
             "favourites": st.get("favourites_count")},
    )


@register("mastodon")
class MastodonCollector:
    """Mastodon hashtags and search; safe to share between threads (one client per call)."""

    kind = "mastodon"
    Config = MastodonSource

    def __init__(self, ctx: CollectContext, scheme: str = "https") -> None:
        self.ctx = ctx
        self.scheme = scheme  # "http" only for the tests' local server

    def _client(self, source: MastodonSource, token: str | None) -> tuple[Mastodon, dict[str, Any]]:
        session = session_for(self.ctx.timeout_s)
        last: dict[str, Any] = {}

        def remember(resp: requests.Response, *args: Any, **kwargs: Any) -> None:
            last["headers"] = resp.headers  # the 429's reset time, read with our clock

        session.hooks["response"].append(remember)
        api = Mastodon(
            api_base_url=f"{self.scheme}://{source.instance}", access_token=token or None,
            ratelimit_method="throw", request_timeout=self.ctx.timeout_s, version_check_mode="none",
            session=session, user_agent=self.ctx.user_agent,
        )
        return api, last

    def collect(self, source: MastodonSource, state: CursorState) -> Iterator[Item]:
        token = (self.ctx.env.get(TOKEN_ENV) or "").strip()
        api, last = self._client(source, token)
        since = int(state.cursor) if state.cursor and state.cursor.isdigit() else None
        newest = since
        calls: list[tuple[str, str]] = [("tag", t) for t in source.hashtags]
        if source.search and not token:
            yield Warning_(f"search on {source.instance} needs {TOKEN_ENV}; collecting hashtags only")
            if not source.hashtags:
                yield Checkpoint()
                return
        elif source.search:
            calls += [("search", q) for q in source.search]
        seen: set[str] = set()

        def posts() -> Iterator[Post]:
            nonlocal newest
            for what, arg in calls:
                for st in self._statuses(api, last, source, what, arg, since):
                    sid = str(st.get("id") or "")
                    if not sid.isdigit() or sid in seen or (since is not None and int(sid) <= since):
                        continue
                    seen.add(sid)
                    newest = max(newest or 0, int(sid))
                    post = status_to_post(st, source.id, source.instance)
                    if post is not None:
                        yield post

        yield from cap_posts(posts(), self.ctx.max_items_per_run)
        yield Checkpoint(cursor=str(newest)) if newest is not None and newest != since else Checkpoint()

    def _statuses(self, api: Mastodon, last: dict[str, Any], source: MastodonSource, what: str, arg: str,
                  since: int | None) -> Iterator[dict[str, Any]]:
        if what == "tag":
            page = self._call(api, last, source, lambda: api.timeline_hashtag(
                arg, local=source.local_only, since_id=since, limit=PAGE_LIMIT))
        else:
            page = self._call(api, last, source, lambda: api.search_v2(
                arg, resolve=False, result_type="statuses", min_id=since, limit=PAGE_LIMIT,
                exclude_unreviewed=False))  # True makes Mastodon.py fetch /api/v1/instance first
            page = page.get("statuses") if isinstance(page, dict) else None
            # Search is not paginated by link headers; one page per phrase and run.
            yield from page or []
            return
        for i in range(source.max_pages):
            if not page:
                return
            yield from page
            oldest = min((int(s["id"]) for s in page if str(s.get("id", "")).isdigit()), default=None)
            if since is not None and oldest is not None and oldest <= since:
                return
            if i + 1 < source.max_pages:
                prev = page
                page = self._call(api, last, source, lambda: api.fetch_next(prev))
        if page and since is not None:
            log.info("source '%s': #%s has more new posts than max_pages=%d", source.id, arg, source.max_pages)

    def _call(self, api: Mastodon, last: dict[str, Any], source: MastodonSource, fn: Any) -> Any:
        sid, host = source.id, source.instance
        for _ in range(MAX_RATE_RETRIES + 1):
            try:
                return fn()
            except MastodonRatelimitError:
                headers = last.get("headers") or {}
                wait_or_defer(self.ctx, sid, f"Mastodon ({host})", parse_reset(headers.get("X-RateLimit-Reset")))
            except MastodonUnauthorizedError:
                raise CredentialsError(f"source '{sid}': {host} refused access (HTTP 401); "
                                       f"check {TOKEN_ENV} or whether the instance allows public timelines") from None
            except MastodonNotFoundError:
                raise SourceError(f"source '{sid}': {host} answered 404 (not a Mastodon instance?)") from None
            except MastodonServerError as exc:
                raise SourceError(f"source '{sid}': {host} answered a server error: {_status(exc)}") from None
            except MastodonAPIError as exc:
                status = _status(exc)
                if status == "403":
                    raise CredentialsError(f"source '{sid}': {host} answered 403 (the instance requires "
                                           f"a login for this; set {TOKEN_ENV})") from None
                raise SourceError(f"source '{sid}': {host} answered HTTP {status}") from None
            except MastodonNetworkError as exc:
                reason = "timed out" if "timed out" in str(exc).lower() or "timeout" in str(exc).lower() else "unreachable"
                raise SourceError(f"source '{sid}': {host} {reason}") from None
            except (MastodonError, ValueError) as exc:
                raise SourceError(f"source '{sid}': {host}: unreadable answer ({type(exc).__name__}: {one_line(exc, 120)})") from None
        raise SourceError(f"source '{sid}': {host} kept answering 429 after {MAX_RATE_RETRIES} waits")


def _status(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    for a in args:
        if isinstance(a, int):
            return str(a)
    return one_line(exc, 80)
