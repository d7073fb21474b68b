"""Helpers shared by the API collectors: keyword sets, search queries, rate-limit waits, times."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Iterable, Iterator, Sequence

from listener.collectors.base import CollectContext
from listener.errors import RateLimited, SourceError
from listener.models import Post, Warning_

# Languages whose posts we want, as the platforms label them; anything else is left to detection.
UNDETERMINED = {"und", "zxx", "qme", "qht", "qam", "qct", "qst", ""}


def resolve_keywords(keywords: str | Sequence[str] | None, ctx: CollectContext, source_id: str) -> list[str]:
    """The phrases of a source: a keyword-set name from ``ctx.keyword_sets`` or an explicit list."""
    if keywords is None:
        return []
    if isinstance(keywords, str):
        if keywords not in ctx.keyword_sets:
            known = ", ".join(sorted(ctx.keyword_sets)) or "none defined"
            raise SourceError(f"source '{source_id}': unknown keyword set '{keywords}' (known: {known})")
        phrases = list(ctx.keyword_sets[keywords])
    else:
        phrases = list(keywords)
    seen: set[str] = set()
    out = []
    for p in phrases:
        p = " ".join(str(p).replace('"', " ").split())
        if p and p.lower() not in seen:
            seen.add(p.lower())
            out.append(p)
    return out


_HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+(?::\d{1,5})?$")


def instance_host(value: str) -> str:
    """A Mastodon instance as a bare host name (``https://Mastodon.nl/`` → ``mastodon.nl``); ValueError if not one."""
    host = value.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    if not _HOST.match(host):
        raise ValueError(f"'{value}' is not an instance host name such as mastodon.nl")
    return host


def hashtags(values: Sequence[str]) -> list[str]:
    """Hashtags without '#' (``#Krimp`` → ``Krimp``); ValueError for anything that is not one."""
    out = []
    for t in values:
        tag = str(t).strip().lstrip("#")
        if not re.fullmatch(r"\w{1,100}", tag):
            raise ValueError(f"'{t}' is not a hashtag (letters, digits and _ only)")
        out.append(tag)
    return out


def quote_term(phrase: str) -> str:
    """A search term: bare for one word or a #hashtag, in double quotes for a phrase."""
    if re.fullmatch(r"[#@]?[\w'’.-]+", phrase) and phrase.upper() not in ("OR", "AND", "NOT"):
        return phrase
    return f'"{phrase}"'


def build_queries(phrases: Sequence[str], extra: str = "", limit: int = 512) -> tuple[list[str], list[str]]:
    """OR-queries of at most ``limit`` characters covering every phrase, and the phrases too long to fit.

    >>> build_queries(["krimp", "school sluit"], "lang:nl")
    (['(krimp OR "school sluit") lang:nl'], [])
    """
    extra = extra.strip()
    suffix = f" {extra}" if extra else ""
    queries: list[str] = []
    dropped: list[str] = []
    current: list[str] = []

    def render(terms: list[str]) -> str:
        if len(terms) == 1 or not suffix:
            return " OR ".join(terms) + suffix
        body = "(" + " OR ".join(terms) + ")"
        return body + suffix

    for phrase in phrases:
        term = quote_term(phrase)
        if len(render([term])) > limit:
            dropped.append(phrase)
            continue
        if current and len(render(current + [term])) > limit:
            queries.append(render(current))
            current = []
        current.append(term)
    if current:
        queries.append(render(current))
    return queries, dropped


def wait_or_defer(ctx: CollectContext, source_id: str, platform: str, reset_at: float | None) -> None:
    """Sleep (with the injected clock) until ``reset_at`` (epoch seconds), or raise RateLimited.

    The wait happens only when it is known and at most ``ctx.max_wait_s``; otherwise the run
    loop defers the source to its next run.
    """
    if reset_at is None:
        raise RateLimited(f"source '{source_id}': {platform} rate limit reached; deferred to the next run")
    wait = max(0.0, reset_at - ctx.now().timestamp()) + 1.0
    if wait > ctx.max_wait_s:
        raise RateLimited(
            f"source '{source_id}': {platform} rate limit reached; resets in {wait:.0f}s, "
            f"more than the {ctx.max_wait_s:g}s we wait; deferred to the next run"
        )
    ctx.sleep(wait)


def parse_reset(value: str | None) -> float | None:
    """Epoch seconds from a rate-limit reset header: epoch seconds or an ISO 8601 time."""
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    dt = parse_time(value)
    return dt.timestamp() if dt else None


def parse_time(value: str | None) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string (``Z`` or offset); None if unreadable."""
    if not value or not isinstance(value, str):
        return None
    v = value.strip()
    if v.endswith(("Z", "z")):
        v = v[:-1] + "+00:00"
    # Python 3.11 reads up to microseconds; Bluesky and Mastodon sometimes send more digits.
    v = re.sub(r"(\.\d{6})\d+", r"\1", v)
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def iso(dt: datetime) -> str:
    """``2025-01-31T12:00:00.123456Z``: a sortable UTC string for time cursors."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def platform_language(code: str | None) -> str | None:
    """A platform's language label as ISO 639-1 (``nl-NL`` → ``nl``); None when undetermined."""
    if not code or not isinstance(code, str):
        return None
    code = code.strip().lower().replace("_", "-")
    if code in UNDETERMINED:
        return None
    return code.split("-")[0][:8] or None


def pick_language(codes: Sequence[str] | None) -> str | None:
    """From a list of labels (Bluesky ``langs``), Dutch or Frisian when present, else the first."""
    norm = [c for c in (platform_language(x) for x in (codes or [])) if c]
    for want in ("nl", "fy"):
        if want in norm:
            return want
    return norm[0] if norm else None


def one_line(exc: BaseException | str, limit: int = 200) -> str:
    """The first line of an error message, shortened; for SourceError messages."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:limit]


def cap_posts(posts: Iterable[Post], limit: int) -> Iterator[Post | Warning_]:
    """The first ``limit`` posts of a run, then one warning if there were more (the rest is not read)."""
    for n, post in enumerate(posts):
        if n >= limit:
            yield Warning_(f"stopped at max_items_per_run={limit}")
            return
        yield post
