"""Bluesky collector: ``searchPosts`` with a login, public author feeds without one (atproto).

Search needs ``BLUESKY_HANDLE`` and ``BLUESKY_APP_PASSWORD`` (an app password, never the main
one). Without them the listed ``accounts`` (village councils, local media) are still read from
the public AppView's ``getAuthorFeed``. The cursor is a time: the newest ``sortAt`` seen
(the earlier of createdAt and indexedAt, which is what Bluesky sorts and filters on).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any, Iterator

from atproto import Client, models
from atproto_client.exceptions import (
    AtProtocolError,
    BadRequestError,
    InvokeTimeoutError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.request import Request
from pydantic import Field, field_validator, model_validator

from listener.collectors.base import CollectContext, Item, register
from listener.collectors.common import (
    cap_posts,
    iso,
    one_line,
    parse_reset,
    parse_time,
    pick_language,
    quote_term,
    resolve_keywords,
    wait_or_defer,
)
from listener.config import SourceBase
from listener.errors import CredentialsError, SourceError, SourceSkipped
from listener.models import Checkpoint, CursorState, Post, Warning_
from listener.privacy import author_key

log = logging.getLogger(__name__)

HANDLE_ENV, PASSWORD_ENV = "BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD"
PDS_URL = "https://bsky.social"
PUBLIC_URL = "https://public.api.bsky.app"
PAGE_LIMIT = 100
MAX_RATE_RETRIES = 3
# Labels by which an author or moderation asks not to be shown, or which hide a post.
HIDDEN_LABELS = {"!no-unauthenticated", "!hide", "!takedown", "!warn"}
_ACTOR = re.compile(r"^(did:[a-z]+:[A-Za-z0-9._:%-]+|[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,})$")


class BlueskySource(SourceBase):
    """``kind: bluesky`` — keyword search (with a login) and/or public author feeds."""

    keywords: str | list[str] | None = None  # a keyword-set name or explicit phrases
    accounts: list[str] = Field(default_factory=list)  # handles or DIDs of public accounts
    search_lang: str | None = "nl"  # searchPosts ``lang``; null searches every language
    include_replies: bool = False  # in author feeds
    max_pages: int = Field(default=5, ge=1, le=50)  # per phrase or account and run

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, v: list[str]) -> list[str]:
        out = []
        for a in v:
            actor = str(a).strip().lstrip("@")
            if not _ACTOR.match(actor):
                raise ValueError(f"'{a}' is not a Bluesky handle (name.bsky.social) or DID")
            out.append(actor)
        return out

    @model_validator(mode="after")
    def _something(self) -> "BlueskySource":
        if not self.keywords and not self.accounts:
            raise ValueError("give 'keywords' or 'accounts' (or both)")
        return self


def sort_at(post: dict[str, Any]) -> datetime | None:
    """The earlier of the record's createdAt and the AppView's indexedAt (a backdated post sorts early)."""
    created = parse_time((post.get("record") or {}).get("createdAt"))
    indexed = parse_time(post.get("indexedAt"))
    times = [t for t in (created, indexed) if t is not None]
    return min(times) if times else None


def _labels(obj: dict[str, Any]) -> set[str]:
    return {lab.get("val") for lab in obj.get("labels") or [] if isinstance(lab, dict)}


def post_to_post(pv: dict[str, Any], source_id: str) -> Post | None:
    """A Post from an ``app.bsky.feed.defs#postView``; None when hidden, empty or unreadable."""
    record = pv.get("record") or {}
    author = pv.get("author") or {}
    uri = pv.get("uri") or ""
    text = (record.get("text") or "").strip() if isinstance(record, dict) else ""
    if not text or not uri.startswith("at://"):
        return None
    if (_labels(pv) | _labels(author)) & HIDDEN_LABELS:
        return None
    did = author.get("did") or uri[5:].split("/")[0]
    rkey = uri.rsplit("/", 1)[-1]
    embed = pv.get("embed") or {}
    external = (embed.get("external") or {}) if isinstance(embed, dict) else {}
    raw: dict[str, Any] = {k: pv.get(k) for k in ("replyCount", "repostCount", "likeCount", "quoteCount")
                           if isinstance(pv.get(k), int)}
    if external.get("uri"):
        raw["link"] = str(external["uri"])[:300]
    return Post(
        platform="bluesky",
        source_id=source_id,
        external_id=uri,
        text=text,
        url=f"https://bsky.app/profile/{did}/post/{rkey}",
        language=pick_language(record.get("langs")),
        created_at=parse_time(record.get("createdAt")) or parse_time(pv.get("indexedAt")),
        author_key=author_key("bluesky", did),  # the DID: stable across handle changes
        raw=raw,
    )


@register("bluesky")
class BlueskyCollector:
    """Bluesky search and author feeds; safe to share between threads (one client per call)."""

    kind = "bluesky"
    Config = BlueskySource

    def __init__(self, ctx: CollectContext, pds_url: str = PDS_URL, public_url: str = PUBLIC_URL) -> None:
        self.ctx = ctx
        self.pds_url, self.public_url = pds_url, public_url

    def _client(self, base_url: str) -> Client:
        request = Request(timeout=self.ctx.timeout_s)
        request.add_additional_header("User-Agent", self.ctx.user_agent)
        return Client(base_url=base_url, request=request)

    def collect(self, source: BlueskySource, state: CursorState) -> Iterator[Item]:
        phrases = resolve_keywords(source.keywords, self.ctx, source.id) if source.keywords else []
        handle = (self.ctx.env.get(HANDLE_ENV) or "").strip()
        password = (self.ctx.env.get(PASSWORD_ENV) or "").strip()
        since = parse_time(state.cursor)
        newest = since
        seen: set[str] = set()
        streams: list[Iterator[dict[str, Any]]] = []
        clients: list[Client] = []
        if phrases and not (handle and password) and not source.accounts:
            raise SourceSkipped(f"source '{source.id}': Bluesky search needs {HANDLE_ENV} and {PASSWORD_ENV}; skipped")
        if phrases and not (handle and password):
            yield Warning_(f"search needs {HANDLE_ENV} and {PASSWORD_ENV}; reading the listed accounts only")
        if phrases and handle and password:
            client = self._login(source, handle, password)
            clients.append(client)
            # searchPosts takes Lucene-like syntax without a documented OR: one query per phrase.
            streams += [self._search(client, source, quote_term(q), since) for q in phrases]
        if source.accounts:
            # Author feeds are public: the logged-in client if we have one, else the public AppView.
            client = clients[0] if clients else self._client(self.public_url)
            clients.append(client)
            streams += [self._author_feed(client, source, a, since) for a in source.accounts]
        def posts() -> Iterator[Post]:
            nonlocal newest
            for stream in streams:
                for pv in stream:
                    t = sort_at(pv)
                    uri = pv.get("uri")
                    if t is None or not uri or uri in seen or (since is not None and t <= since):
                        continue
                    seen.add(uri)
                    newest = max(newest, t) if newest else t
                    post = post_to_post(pv, source.id)
                    if post is not None:
                        yield post

        try:
            yield from cap_posts(posts(), self.ctx.max_items_per_run)
        finally:
            for c in clients:
                try:
                    c.request.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
        yield Checkpoint(cursor=iso(newest)) if newest is not None and newest != since else Checkpoint()

    def _login(self, source: BlueskySource, handle: str, password: str) -> Client:
        client = self._client(self.pds_url)
        try:
            client.login(handle, password, fetch_bsky_profile=False)
        except UnauthorizedError:
            raise CredentialsError(f"source '{source.id}': Bluesky refused the login; check {HANDLE_ENV} and "
                                   f"{PASSWORD_ENV} (use an app password)") from None
        except Exception as exc:  # noqa: BLE001
            raise self._error(source, exc, "login") from None
        return client

    def _search(self, client: Client, source: BlueskySource, q: str, since: datetime | None) -> Iterator[dict[str, Any]]:
        cursor = None
        for _ in range(source.max_pages):
            params = models.AppBskyFeedSearchPosts.Params(
                q=q, sort="latest", limit=PAGE_LIMIT, cursor=cursor,
                lang=source.search_lang or None, since=iso(since) if since else None,
            )
            body = self._query(client, source, "app.bsky.feed.searchPosts", params)
            posts = body.get("posts") or []
            yield from (p for p in posts if isinstance(p, dict))
            cursor = body.get("cursor")
            if not posts or not cursor:
                return

    def _author_feed(self, client: Client, source: BlueskySource, actor: str,
                     since: datetime | None) -> Iterator[dict[str, Any]]:
        cursor = None
        for _ in range(source.max_pages):
            params = models.AppBskyFeedGetAuthorFeed.Params(
                actor=actor, limit=PAGE_LIMIT, cursor=cursor,
                filter="posts_with_replies" if source.include_replies else "posts_no_replies",
            )
            body = self._query(client, source, "app.bsky.feed.getAuthorFeed", params)
            feed = [f for f in body.get("feed") or [] if isinstance(f, dict)]
            oldest = None
            for item in feed:
                if item.get("reason"):  # a repost: someone else's post
                    continue
                pv = item.get("post") or {}
                t = sort_at(pv)
                oldest = t if oldest is None or (t and t < oldest) else oldest
                yield pv
            cursor = body.get("cursor")
            if not feed or not cursor or (since is not None and oldest is not None and oldest <= since):
                return

    def _query(self, client: Client, source: BlueskySource, nsid: str, params: Any) -> dict[str, Any]:
        for _ in range(MAX_RATE_RETRIES + 1):
            try:
                resp = client.invoke_query(nsid, params=params)
            except RateLimitExceededError as exc:
                headers = exc.response.headers if exc.response is not None else {}
                wait_or_defer(self.ctx, source.id, "Bluesky", parse_reset(headers.get("ratelimit-reset")))
                continue
            except Exception as exc:  # noqa: BLE001
                raise self._error(source, exc, nsid.rsplit(".", 1)[-1]) from None
            if not isinstance(resp.content, dict):
                raise SourceError(f"source '{source.id}': Bluesky {nsid.rsplit('.', 1)[-1]} sent a body that is not JSON")
            return resp.content
        raise SourceError(f"source '{source.id}': Bluesky kept answering 429 after {MAX_RATE_RETRIES} waits")

    def _error(self, source: BlueskySource, exc: BaseException, what: str) -> SourceError:
        sid = source.id
        if isinstance(exc, UnauthorizedError):
            return CredentialsError(f"source '{sid}': Bluesky {what} refused (HTTP {_code(exc)}); "
                                    f"search needs {HANDLE_ENV} and {PASSWORD_ENV}")
        if isinstance(exc, InvokeTimeoutError):
            return SourceError(f"source '{sid}': Bluesky {what} timed out after {self.ctx.timeout_s:g}s")
        if isinstance(exc, BadRequestError):
            return SourceError(f"source '{sid}': Bluesky {what} rejected the request: {one_line(exc, 160)}")
        if isinstance(exc, (NetworkError, RequestErrorBase)):
            return SourceError(f"source '{sid}': Bluesky {what} failed: {_code(exc) or type(exc).__name__}")
        if isinstance(exc, (AtProtocolError, ValueError)):
            return SourceError(f"source '{sid}': Bluesky {what} sent an unreadable answer ({type(exc).__name__})")
        return SourceError(f"source '{sid}': Bluesky {what} failed: {type(exc).__name__}: {one_line(exc, 120)}")


def _code(exc: BaseException) -> str:
    resp = getattr(exc, "response", None)
    return str(resp.status_code) if resp is not None else ""
