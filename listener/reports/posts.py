"""berichten.csv and initiatieven.csv: the relevant posts of a week, one row per unique text."""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd
from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from listener.reports.overview import THEMES, when_in
from listener.reports.weeks import Week, local_date
from listener.store.models import Post, PostTag

COLUMNS = ["datum", "platform", "bron", "gemeente", "plaats", "regio", "themas", "signalen", "tekst", "link",
           "bewijs", "aantal_keer"]
CHUNK = 500


def _join(values: Iterable[str | None]) -> str:
    return ", ".join(dict.fromkeys(v for v in values if v))


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
    themes = sorted({t.tag for t in by_kind.get("theme", [])}, key=lambda x: (THEMES.index(x) if x in THEMES else 99, x))
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
    t = aliased(PostTag)
    cond = [when_in(week.start, week.end), exists().where(t.post_id == p.id, t.kind == "theme")]
    codes = list(gemeenten)
    if codes:
        m = aliased(PostTag)
        cond.append(exists().where(m.post_id == p.id, m.kind == "municipality", m.tag.in_(codes)))
    if signal:
        sg = aliased(PostTag)
        cond.append(exists().where(sg.post_id == p.id, sg.kind == "signal", sg.tag == signal))
    copies: dict[str, int] = {}
    first: dict[str, Any] = {}
    for row in session.execute(select(p.id, p.content_hash, p.created_at, p.collected_at, p.platform, p.source_id,
                                      p.text, p.url).where(*cond).order_by(p.id)):
        copies[row.content_hash] = copies.get(row.content_hash, 0) + 1
        first.setdefault(row.content_hash, row)
    keep = {row.id: row for row in first.values()}
    tags: dict[int, list[Any]] = {pid: [] for pid in keep}
    pt = PostTag.__table__.c
    ids = select(p.id).where(*cond)
    for tag in session.execute(select(pt.post_id, pt.kind, pt.tag, pt.label, pt.place, pt.matched)
                               .where(pt.post_id.in_(ids)).order_by(pt.post_id, pt.id)):
        if tag.post_id in tags:
            tags[tag.post_id].append(tag)
    rows = []
    for pid, post in keep.items():
        row = _row(post, tags[pid])
        row["aantal_keer"] = copies[post.content_hash]
        rows.append((post.created_at or post.collected_at, pid, row))
    rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
    return pd.DataFrame([r[2] for r in rows], columns=COLUMNS).astype({"aantal_keer": "int64"})
