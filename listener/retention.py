"""Retention and the right to erasure: ``purge`` old posts (aggregates kept) and ``forget`` one author.

Both run in one transaction: weekly aggregates, deletions and the audit entry commit together
or not at all, so a purge killed half-way leaves nothing half-written and can simply run again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from listener.audit import record
from listener.config import Config
from listener.errors import ConfigError
from listener.privacy import author_key, normalise_handle
from listener.reports.weeks import week_label
from listener.schedules import TZ
from listener.store.db import session_scope, with_retries
from listener.store.models import Post, PostTag, WeeklyCount, WeeklyCountStamp, utcnow

log = logging.getLogger(__name__)

CHUNK = 500


@dataclass
class PurgeResult:
    """What a purge deleted (or, with ``dry_run``, would delete), per source."""

    deleted: dict[str, int] = field(default_factory=dict)  # source id → posts
    tags: int = 0
    weeks: tuple[str, ...] = ()  # ISO weeks whose aggregates were made sure of
    cutoffs: dict[str, datetime] = field(default_factory=dict)  # source id → posts before this go
    retention_days: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


@dataclass
class ForgetResult:
    """What ``forget`` deleted for one author, per source (never who it was)."""

    deleted: dict[str, int] = field(default_factory=dict)
    tags: int = 0
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


# --- ISO weeks ---------------------------------------------------------------------------------


def iso_week(when: datetime) -> str:
    """The ISO week (Europe/Amsterdam) of an aware datetime: ``2026-W48``."""
    return week_label(when)


def week_bounds(week: str) -> tuple[datetime, datetime]:
    """Start (Monday 00:00 Europe/Amsterdam) and end of an ISO week, in UTC."""
    try:
        y, w = week.split("-W")
        monday = date.fromisocalendar(int(y), int(w), 1)
    except ValueError:
        raise ConfigError(f"not an ISO week: {week!r} (use e.g. 2026-W48)") from None
    start = datetime.combine(monday, time(0), tzinfo=TZ)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=TZ)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def _when() -> Any:
    return func.coalesce(Post.created_at, Post.collected_at)


# --- weekly aggregates ---------------------------------------------------------------------------


def compute_week(session: Session, week: str) -> dict[tuple[str, str, str, str], tuple[int, int, int]]:
    """Counts for one week from the stored posts: (area_kind, area, place, theme) → (posts, probleem, initiatief).

    A post counts once per area and theme however often it was stored (distinct content hash);
    a municipality is counted per place and as a whole (place '').
    """
    start, end = week_bounds(week)
    rows = session.execute(
        select(Post.id, Post.content_hash, PostTag.kind, PostTag.tag, PostTag.place)
        .join(PostTag, PostTag.post_id == Post.id)
        .where(_when() >= start, _when() < end)
    )
    posts: dict[int, dict[str, Any]] = {}
    for pid, chash, kind, tag, place in rows:
        p = posts.setdefault(pid, {"hash": chash, "themes": set(), "signals": set(), "areas": set()})
        if kind == "theme":
            p["themes"].add(tag)
        elif kind == "signal":
            p["signals"].add(tag)
        elif kind == "municipality":
            p["areas"].add(("municipality", tag, ""))
            if place:
                p["areas"].add(("municipality", tag, place[:200]))
        elif kind == "region":
            p["areas"].add(("region", tag, ""))
    groups: dict[tuple[str, str, str, str], list[set[str]]] = {}
    for p in posts.values():
        for area_kind, area, place in p["areas"]:
            for theme in p["themes"]:
                g = groups.setdefault((area_kind, area, place, theme), [set(), set(), set()])
                g[0].add(p["hash"])
                if "probleem" in p["signals"]:
                    g[1].add(p["hash"])
                if "initiatief" in p["signals"]:
                    g[2].add(p["hash"])
    return {k: (len(a), len(b), len(c)) for k, (a, b, c) in groups.items()}


def ensure_weekly_counts(session: Session, weeks: Iterable[str], now: datetime | None = None) -> int:
    """Make sure ``weekly_counts`` holds the aggregates of ``weeks`` before their posts go; rows written.

    A count is only ever raised, never lowered: a week recomputed after some of its posts were
    purged (sources keep posts for different periods) keeps the count made while they were there.
    """
    now = now or utcnow()
    written = 0
    for week in sorted(set(weeks)):
        computed = compute_week(session, week)
        if not computed:
            continue
        existing = {
            (r.area_kind, r.area, r.place, r.theme): r
            for r in session.scalars(select(WeeklyCount).where(WeeklyCount.week == week))
        }
        for (area_kind, area, place, theme), (n, n_prob, n_init) in computed.items():
            row = existing.get((area_kind, area, place, theme))
            if row is None:
                session.add(WeeklyCount(week=week, area_kind=area_kind, area=area, place=place, theme=theme,
                                        n_posts=n, n_probleem=n_prob, n_initiatief=n_init, computed_at=now))
                written += 1
            elif n > row.n_posts or n_prob > row.n_probleem or n_init > row.n_initiatief:
                row.n_posts = max(row.n_posts, n)
                row.n_probleem = max(row.n_probleem, n_prob)
                row.n_initiatief = max(row.n_initiatief, n_init)
                row.computed_at = now
                written += 1
        # (the report's version stamps a week whose stored counts equal this count; this one does not)
        session.execute(delete(WeeklyCountStamp).where(WeeklyCountStamp.week == week))
        session.flush()
    return written


def _aggregator() -> Callable[[Session, Iterable[str]], Any]:
    # The weekly report owns the aggregates when it exists; this module's version stands in.
    try:
        from listener.reports import weekly  # type: ignore[attr-defined]
    except ImportError:
        return ensure_weekly_counts
    return getattr(weekly, "ensure_weekly_counts", ensure_weekly_counts)


# --- purge ----------------------------------------------------------------------------------


def retention_days_for(config: Config, source_id: str) -> int:
    """The retention of one source: its own ``retention_days``, else the settings' (default 90)."""
    for src in config.sources:
        if src.id == source_id and src.retention_days:
            return src.retention_days
    return config.settings.retention_days


def _delete_posts(session: Session, ids: Sequence[int]) -> int:
    """Delete the posts and their tags; the tags deleted.

    The weeks they were in lose their stamps (``weekly_count_stamps``): a report of such a
    week counts it again rather than trusting that its posts are those it was counted from.
    """
    tags = 0
    weeks: set[str] = set()
    for i in range(0, len(ids), CHUNK):
        chunk = list(ids[i : i + CHUNK])
        weeks.update(iso_week(when) for (when,) in session.execute(select(_when()).where(Post.id.in_(chunk)))
                     if when is not None)
        tags += session.execute(delete(PostTag).where(PostTag.post_id.in_(chunk))).rowcount or 0
        session.execute(delete(Post).where(Post.id.in_(chunk)))
    if weeks:
        session.execute(delete(WeeklyCountStamp).where(WeeklyCountStamp.week.in_(sorted(weeks))))
    return tags


def _count_tags(session: Session, ids: Sequence[int]) -> int:
    n = 0
    for i in range(0, len(ids), CHUNK):
        n += session.scalar(select(func.count()).select_from(PostTag).where(PostTag.post_id.in_(ids[i : i + CHUNK]))) or 0
    return n


def purge(factory: sessionmaker[Session], config: Config, now: datetime | None = None,
          dry_run: bool = False) -> PurgeResult:
    """Delete posts (text, link, tags) older than their source's retention; aggregates are kept.

    A post goes when it was posted or collected more than ``retention_days`` ago. Before that,
    the weekly aggregates of the weeks it falls in are made sure of. Example::

        result = purge(factory, load_config("sources.yaml"))
        print(result.deleted)  # {'rtv-noord': 120, 'dorpsnieuws': 4}
    """
    now = now or utcnow()

    def once() -> PurgeResult:
        result = PurgeResult(dry_run=dry_run)
        with session_scope(factory) as s:
            doomed: list[int] = []
            weeks: set[str] = set()
            for sid in sorted(s.scalars(select(Post.source_id).distinct())):
                days = retention_days_for(config, sid)
                cutoff = now - timedelta(days=days)
                rows = s.execute(
                    select(Post.id, _when()).where(
                        Post.source_id == sid, or_(Post.created_at < cutoff, Post.collected_at < cutoff)
                    )
                ).all()
                if not rows:
                    continue
                result.deleted[sid] = len(rows)
                result.cutoffs[sid] = cutoff
                result.retention_days[sid] = days
                doomed.extend(pid for pid, _ in rows)
                weeks.update(iso_week(when) for _, when in rows if when is not None)
            result.weeks = tuple(sorted(weeks))
            if dry_run:
                result.tags = _count_tags(s, doomed)
            else:
                _aggregator()(s, weeks)
                result.tags = _delete_posts(s, doomed)
            record(s, "purge", {"dry_run": dry_run, "retention_days": result.retention_days or None,
                                "weeks": list(result.weeks) or None}, result.total)
        return result

    result = with_retries(once, "purge")
    log.info("purge%s: %d posts of %d sources (%d tags)", " (dry run)" if dry_run else "",
             result.total, len(result.deleted), result.tags)
    return result


# --- forget -----------------------------------------------------------------------------------


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _identity_in_links(platform: str, handle: str) -> list[Any]:
    """Conditions on url/external_id that name the author (posts that reached us without an author key)."""
    h = normalise_handle(handle)
    conds: list[Any] = []
    url, ext = func.lower(Post.url), func.lower(Post.external_id)
    if platform == "mastodon" and "@" in h:
        user, host = h.split("@", 1)
        u, d = _like_escape(user), _like_escape(host)
        for pattern in (f"%://{d}/@{u}/%", f"%://{d}/users/{u}/%", f"%://{d}/@{u}"):
            conds += [url.like(pattern, escape="\\"), ext.like(pattern, escape="\\")]
    elif platform == "bluesky":
        e = _like_escape(h)
        conds += [url.like(f"%/profile/{e}/%", escape="\\"), ext.like(f"at://{e}/%", escape="\\")]
    return conds


def forget(factory: sessionmaker[Session], platform: str, handle: str, dry_run: bool = False) -> ForgetResult:
    """Delete every post (and its tags) of one author: the right to erasure (AVG art. 17).

    The author is found by the pseudonymous key ``author_key(platform, handle)``, and on Mastodon
    and Bluesky also by a link that names them. The audit log records that it happened, not who.
    Example: ``forget(factory, "mastodon", "@jan@dorp.social")``
    """
    platform = (platform or "").strip().lower()
    if not platform:
        raise ConfigError("--platform: is missing (e.g. mastodon, bluesky, reddit, x, rss)")
    key = author_key(platform, handle)
    if key is None:
        raise ConfigError("--author: is empty")

    def once() -> ForgetResult:
        result = ForgetResult(dry_run=dry_run)
        with session_scope(factory) as s:
            cond = or_(Post.author_key == key, *_identity_in_links(platform, handle))
            rows = s.execute(select(Post.id, Post.source_id).where(Post.platform == platform, cond)).all()
            ids = [pid for pid, _ in rows]
            for _, sid in rows:
                result.deleted[sid] = result.deleted.get(sid, 0) + 1
            result.tags = _count_tags(s, ids) if dry_run else _delete_posts(s, ids)
            # Who was forgotten is not recorded: that would keep what was asked to be erased.
            record(s, "forget", {"platform": platform, "dry_run": dry_run}, result.total)
        return result

    result = with_retries(once, "forget")
    log.info("forget%s: %d posts of one author deleted", " (dry run)" if dry_run else "", result.total)
    return result
