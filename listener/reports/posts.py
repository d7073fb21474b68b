"""berichten.csv and initiatieven.csv: the relevant posts of a week, one row per unique text."""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from listener.reports.overview import THEMES, when_in
from listener.reports.weeks import Week, local_date
from listener.store.models import Post, PostTag

COLUMNS = ["datum", "platform", "bron", "gemeente", "plaats", "regio", "themas", "signalen", "tekst", "link",
           "bewijs", "aantal_keer"]
_THEME_ORDER = {t: i for i, t in enumerate(THEMES)}


def _join(values: Iterable[str | None]) -> str:
    out: list[str] = []
    for v in values:  # a post has one or two of each: a list beats a dict here
        if v and v not in out:
            out.append(v)
    return ", ".join(out)


def _evidence(tags: list[Any]) -> str:
    parts = []
    for t in tags:
        if t.matched:
            name = t.label if t.kind == "municipality" and t.label else t.tag
            parts.append(f"{name}: {t.matched}")
    return "; ".join(parts)


def _row(post: Any, tags: list[Any]) -> dict[str, Any]:
    by_kind: dict[str, list[Any]] = {}
    for t in tags:
        by_kind.setdefault(t.kind, []).append(t)
    themes = sorted({t.tag for t in by_kind.get("theme", [])}, key=lambda x: (_THEME_ORDER.get(x, 99), x))
    munis = by_kind.get("municipality", [])
    return {
        "datum": local_date(post.created_at or post.collected_at),
        "platform": post.platform,
        "bron": post.source_id,
        "gemeente": _join(t.label or t.tag for t in munis),
        "plaats": _join(t.place for t in munis),
        "regio": _join(t.tag for t in by_kind.get("region", [])),
        "themas": ", ".join(themes),
        "signalen": _join(sorted(t.tag for t in by_kind.get("signal", []))),
        "tekst": post.text,
        "link": post.url or "",
        "bewijs": _evidence(tags),
    }


def build(session: Session, week: Week, gemeenten: Iterable[str] = (), signal: str | None = None) -> pd.DataFrame:
    """Every relevant post (with a theme) of ``week``, newest first; a text stored twice is one row.

    ``aantal_keer`` says how often the same text (content hash) was stored that week: the same
    news item in two feeds, or a repost. The earliest stored copy stands for the others.
    ``signal='initiatief'`` gives initiatieven.csv.
    """
    p = Post.__table__.c
    pt = PostTag.__table__.c
    in_week = when_in(week.start, week.end)
    # The week's tags in one join, not an EXISTS per post: whether a post has a theme, is about
    # a chosen municipality or carries the signal is decided from them below.
    tags: dict[int, list[Any]] = {}
    # .all(): the driver's fetchall, not a fetchone per row.
    for tag in session.execute(select(pt.id, pt.post_id, pt.kind, pt.tag, pt.label, pt.place, pt.matched)
                               .join_from(Post.__table__, PostTag.__table__, pt.post_id == p.id).where(in_week)).all():
        tags.setdefault(tag.post_id, []).append(tag)
    codes = set(gemeenten)

    def wanted(ts: list[Any]) -> bool:
        kinds = {(t.kind, t.tag) for t in ts}
        return (any(k == "theme" for k, _ in kinds)
                and (not codes or any(k == "municipality" and v in codes for k, v in kinds))
                and (not signal or ("signal", signal) in kinds))

    copies: dict[str, int] = {}
    first: dict[str, Any] = {}
    for row in session.execute(select(p.id, p.content_hash, p.created_at, p.collected_at, p.platform, p.source_id,
                                      p.text, p.url).where(in_week).order_by(p.id)).all():
        ts = tags.get(row.id)
        if not ts or not wanted(ts):
            continue
        copies[row.content_hash] = copies.get(row.content_hash, 0) + 1
        first.setdefault(row.content_hash, row)
    rows = []
    for post in first.values():
        row = _row(post, sorted(tags[post.id], key=lambda t: t.id))
        row["aantal_keer"] = copies[post.content_hash]
        rows.append((post.created_at or post.collected_at, post.id, row))
    rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
    return pd.DataFrame([r[2] for r in rows], columns=COLUMNS).astype({"aantal_keer": "int64"})
