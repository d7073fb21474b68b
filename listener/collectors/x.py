"""X (Twitter) collector: recent search through tweepy's v2 ``Client.search_recent_tweets``.

Needs ``X_BEARER_TOKEN`` in the environment; without it the source is skipped. The cursor is
the newest tweet id seen (``since_id``); it moves once, at the end, after every page of every
query was yielded, because the API pages newest-first.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

import requests
import tweepy
from pydantic import Field, field_validator

from listener.collectors.base import CollectContext, Item, register
from listener.collectors.common import (
    build_queries,
    one_line,
    parse_time,
    platform_language,
    resolve_keywords,
    wait_or_defer,
)
from listener.collectors.http_util import session_for
from listener.config import SourceBase
from listener.errors import CredentialsError, SourceError, SourceSkipped
from listener.models import Checkpoint, CursorState, Post, Warning_
from listener.privacy import author_key

log = logging.getLogger(__name__)

TOKEN_ENV = "X_BEARER_TOKEN"
API_HOST = "https://api.twitter.com"
QUERY_LIMIT = 512  # characters, for recent search on the Basic and Pro tiers
TWEET_FIELDS = ["created_at", "lang", "conversation_id", "public_metrics", "author_id", "geo", "withheld"]
EXPANSIONS = ["author_id", "geo.place_id"]
USER_FIELDS = ["id"]  # the id only: we never store handles
PLACE_FIELDS = ["full_name", "country_code", "place_type"]
MAX_RATE_RETRIES = 3


class _SinceIdTooOld(Exception):
    """X refuses a since_id older than its 7-day search window."""


class XSource(SourceBase):
    """``kind: x`` — recent search for a keyword set."""

    keywords: str | list[str]  # a keyword-set name or explicit phrases
    query_extra: str = "lang:nl -is:retweet"
    max_pages: int = Field(default=5, ge=1, le=100)  # per query and run
    max_results: int = Field(default=100, ge=10, le=100)  # per page (API limits: 10..100)

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, str) and not v.strip():
            raise ValueError("must name a keyword set or list phrases")
        if isinstance(v, list) and not [p for p in v if str(p).strip()]:
            raise ValueError("must list at least one phrase")
        return v

    @field_validator("query_extra")
    @classmethod
    def _extra(cls, v: str) -> str:
        if len(v) > 200:
            raise ValueError("is longer than 200 characters; the whole query may have only 512")
        return v.strip()


def tweet_to_post(tweet: dict[str, Any], places: dict[str, dict[str, Any]], source_id: str) -> Post | None:
    """A Post from one v2 tweet object; None for withheld or empty tweets."""
    if tweet.get("withheld") or not tweet.get("id"):
        return None
    text = (tweet.get("text") or "").strip()
    if not text:
        return None
    tid = str(tweet["id"])
    raw: dict[str, Any] = {"id": tid}
    if tweet.get("conversation_id"):
        raw["conversation_id"] = str(tweet["conversation_id"])
    metrics = tweet.get("public_metrics")
    if isinstance(metrics, dict):
        raw["metrics"] = {k: v for k, v in metrics.items() if isinstance(v, int)}
    place_id = (tweet.get("geo") or {}).get("place_id")
    if place_id and place_id in places:
        place = places[place_id]
        raw["place"] = {"full_name": place.get("full_name"), "country_code": place.get("country_code")}
    return Post(
        platform="x",
        source_id=source_id,
        external_id=tid,
        text=text,
        url=f"https://x.com/i/web/status/{tid}",
        language=platform_language(tweet.get("lang")),
        created_at=parse_time(tweet.get("created_at")),
        # The numeric id, not the @handle: it never changes and is not a name.
        author_key=author_key("x", tweet.get("author_id")) if tweet.get("author_id") else None,
        raw=raw,
    )


@register("x")
class XCollector:
    """Recent search on X; safe to share between threads (one tweepy client per call)."""

    kind = "x"
    Config = XSource

    def __init__(self, ctx: CollectContext, api_base: str | None = None) -> None:
        self.ctx = ctx
        self.api_base = api_base  # another host for api.twitter.com (a proxy; the tests' server)

    def _client(self, token: str) -> tweepy.Client:
        client = tweepy.Client(bearer_token=token, return_type=dict, wait_on_rate_limit=False)
        client.session = session_for(self.ctx.timeout_s, rebase={API_HOST: self.api_base} if self.api_base else None)
        client.user_agent = f"{self.ctx.user_agent} {client.user_agent}"
        return client

    def collect(self, source: XSource, state: CursorState) -> Iterator[Item]:
        token = (self.ctx.env.get(TOKEN_ENV) or "").strip()
        if not token:
            raise SourceSkipped(f"source '{source.id}': no {TOKEN_ENV} in the environment; X skipped")
        phrases = resolve_keywords(source.keywords, self.ctx, source.id)
        if not phrases:
            raise SourceError(f"source '{source.id}': the keyword set is empty")
        queries, dropped = build_queries(phrases, source.query_extra, QUERY_LIMIT)
        if dropped:
            yield Warning_(f"{len(dropped)} phrase(s) too long for one X query were left out: "
                           + ", ".join(p[:40] for p in dropped[:3]))
        client = self._client(token)
        since_id = state.cursor if state.cursor and state.cursor.isdigit() else None
        newest: int | None = int(since_id) if since_id else None
        n = 0
        try:
            for query in queries:
                if n >= self.ctx.max_items_per_run:
                    yield Warning_(f"stopped at max_items_per_run={self.ctx.max_items_per_run}")
                    break
                for post, warn in self._search(client, source, query, since_id):
                    if warn is not None:
                        yield warn
                        continue
                    assert post is not None
                    if n >= self.ctx.max_items_per_run:
                        break
                    n += 1
                    newest = max(newest or 0, int(post.external_id))
                    yield post
        finally:
            client.session.close()
        if newest is not None and str(newest) != since_id:
            yield Checkpoint(cursor=str(newest))
        else:
            yield Checkpoint()

    def _search(self, client: tweepy.Client, source: XSource, query: str,
                since_id: str | None) -> Iterator[tuple[Post | None, Warning_ | None]]:
        next_token: str | None = None
        for page in range(source.max_pages):
            try:
                body = self._page(client, source, query, since_id, next_token)
            except _SinceIdTooOld:
                # The cursor is older than the 7-day window: everything in the window is new.
                yield None, Warning_("the stored since_id is older than X's 7-day window; searching the whole window")
                since_id = None
                body = self._page(client, source, query, since_id, next_token)
            if body.get("errors") and not body.get("data"):
                first = body["errors"][0] if isinstance(body["errors"], list) and body["errors"] else {}
                detail = first.get("detail") or first.get("message") or "error"
                yield None, Warning_(f"X answered without data: {str(detail)[:200]}")
            includes = body.get("includes") or {}
            places = {p.get("id"): p for p in includes.get("places") or [] if isinstance(p, dict)}
            for tweet in body.get("data") or []:
                if not isinstance(tweet, dict):
                    continue
                post = tweet_to_post(tweet, places, source.id)
                if post is not None:
                    yield post, None
            next_token = (body.get("meta") or {}).get("next_token")
            if not next_token:
                return
        if since_id:
            yield None, Warning_(f"stopped after max_pages={source.max_pages} with more new tweets waiting; "
                                 "older ones in between are skipped (raise max_pages or run more often)")

    def _page(self, client: tweepy.Client, source: XSource, query: str, since_id: str | None,
              next_token: str | None) -> dict[str, Any]:
        params: dict[str, Any] = dict(
            max_results=source.max_results, tweet_fields=TWEET_FIELDS, expansions=EXPANSIONS,
            user_fields=USER_FIELDS, place_fields=PLACE_FIELDS,
        )
        if since_id:
            params["since_id"] = since_id
        if next_token:
            params["next_token"] = next_token
        for _ in range(MAX_RATE_RETRIES + 1):
            try:
                body = client.search_recent_tweets(query, **params)
            except tweepy.TooManyRequests as exc:
                wait_or_defer(self.ctx, source.id, "X", exc.reset_time)
                continue
            except (tweepy.Unauthorized, tweepy.Forbidden) as exc:
                status = exc.response.status_code
                raise CredentialsError(
                    f"source '{source.id}': X refused the bearer token (HTTP {status}); "
                    f"check {TOKEN_ENV} and the app's access level"
                ) from None
            except tweepy.BadRequest as exc:
                if since_id and "since_id" in _api_messages(exc):
                    raise _SinceIdTooOld() from None
                raise SourceError(f"source '{source.id}': X rejected the query (HTTP 400): {_api_messages(exc)}") from None
            except tweepy.HTTPException as exc:
                raise SourceError(f"source '{source.id}': X answered HTTP {exc.response.status_code}") from None
            except requests.Timeout:
                raise SourceError(f"source '{source.id}': X timed out after {self.ctx.timeout_s:g}s") from None
            except ValueError:  # the JSON decoder's error (also a RequestException in requests ≥ 2.27)
                raise SourceError(f"source '{source.id}': X sent a body that is not JSON") from None
            except (requests.RequestException, tweepy.TweepyException) as exc:
                raise SourceError(f"source '{source.id}': X request failed: {type(exc).__name__}: {one_line(exc)}") from None
            if not isinstance(body, dict):
                raise SourceError(f"source '{source.id}': X sent an unexpected body ({type(body).__name__})")
            return body
        raise SourceError(f"source '{source.id}': X kept answering 429 after {MAX_RATE_RETRIES} waits")


def _api_messages(exc: tweepy.HTTPException) -> str:
    msgs = list(getattr(exc, "api_messages", []) or [])
    return "; ".join(str(m) for m in msgs)[:200] or "no detail"
