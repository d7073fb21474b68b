"""berichten.csv and initiatieven.csv: the relevant posts of a week, one row per unique text.

Which posts, which copy stands for a text, how often it came in and the order are decided in
SQL (``_REP``); Python only joins each post's few tags into the text columns.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any, Iterable

import pandas as pd
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from listener.reports import sql
from listener.reports.overview import THEMES
from listener.reports.weeks import Week

COLUMNS = ["datum", "platform", "bron", "gemeente", "plaats", "regio", "themas", "signalen", "tekst", "link",
           "bewijs", "aantal_keer"]
_THEME_ORDER = {t: i for i, t in enumerate(THEMES)}

# One row per text (content hash) among the week's wanted posts: the earliest stored copy, and
# how many wanted copies there are. Kept in a temporary table for the two reads that follow
# (the tags, then the posts): choosing them is half the cost of either.
_REP_TABLE = "report_rep"
_REP = """CREATE TEMPORARY TABLE report_rep AS
  SELECT min(p.id) AS id, count(*) AS n FROM {week_posts} p
  WHERE {wanted}
  GROUP BY p.content_hash"""
_HAS = "EXISTS (SELECT 1 FROM post_tags t WHERE t.post_id = p.id AND {})"


def _wanted(codes: list[str], signal: str | None) -> str:
    conds = [_HAS.format("t.kind = 'theme'")]
    if codes:
        conds.append(_HAS.format("t.kind = 'municipality' AND t.tag IN :codes"))
    if signal:
        conds.append(_HAS.format("t.kind = 'signal' AND t.tag = :signal"))
    return " AND ".join(conds)


def _tag_columns(tags: Iterable[tuple[Any, ...]]) -> tuple[str, str, str, str, str, str]:
    """gemeente, plaats, regio, themas, signalen and bewijs of one post from its tags in id order.

    Each list keeps the first occurrence of a value (a post has one or two of each: a list
    beats a dict here); empty values are left out.
    """
    munis: list[str] = []
    places: list[str] = []
    regions: list[str] = []
    themes: list[str] = []
    signals: list[str] = []
    evidence: list[str] = []
    for _, kind, tag, label, place, matched in tags:
        if kind == "municipality":
            name = label or tag
            if name and name not in munis:
                munis.append(name)
            if place and place not in places:
                places.append(place)
        else:
            name = tag
            if kind == "theme" and tag not in themes:
                themes.append(tag)
            elif kind == "signal":
                if tag and tag not in signals:
                    signals.append(tag)
            elif kind == "region":
                if tag and tag not in regions:
                    regions.append(tag)
        if matched:
            evidence.append(f"{name}: {matched}")
    if len(themes) > 1:
        themes.sort(key=_theme_key)
    if len(signals) > 1:
        signals.sort()
    return (", ".join(munis), ", ".join(places), ", ".join(regions), ", ".join(themes), ", ".join(signals),
            "; ".join(evidence))


def _theme_key(theme: str) -> tuple[int, str]:
    return _THEME_ORDER.get(theme, 99), theme


def build(session: Session, week: Week, gemeenten: Iterable[str] = (), signal: str | None = None) -> pd.DataFrame:
    """Every relevant post (with a theme) of ``week``, newest first; a text stored twice is one row.

    ``aantal_keer`` says how often the same text (content hash) was stored that week: the same
    news item in two feeds, or a repost. The earliest stored copy stands for the others.
    ``signal='initiatief'`` gives initiatieven.csv.
    """
    codes = sorted(set(gemeenten))
    params = sql.week_params(week)
    expanding = []
    if codes:
        params["codes"] = codes
        expanding.append("codes")
    if signal:
        params["signal"] = signal
    sql.execute(session, _REP.format(week_posts=sql.WEEK_POSTS, wanted=_wanted(codes, signal)), params, expanding)
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(sql_text(f"ANALYZE {_REP_TABLE}"))  # a temporary table has no statistics otherwise
        tag_rows = sql.rows(session, "SELECT t.post_id, t.kind, t.tag, t.label, t.place, t.matched "
                            f"FROM {_REP_TABLE} rep JOIN post_tags t ON t.post_id = rep.id ORDER BY t.post_id, t.id",
                            params)
        tags = {pid: _tag_columns(ts) for pid, ts in groupby(tag_rows, key=itemgetter(0))}
        post_rows = sql.rows(session, f"SELECT p.id, rep.n, {sql.day_index()}, p.platform, p.source_id, p.text, "
                             f"p.url FROM {_REP_TABLE} rep JOIN posts p ON p.id = rep.id "
                             f"ORDER BY {sql.WHEN} DESC, p.id DESC", params)
    finally:
        session.execute(sql_text(f"DROP TABLE {_REP_TABLE}"))
    days = [(week.monday + timedelta(days=i)).isoformat() for i in range(7)]
    if not post_rows:
        return pd.DataFrame(columns=COLUMNS).astype({"aantal_keer": "int64"})
    ids, n, day, platform, source, text, url = zip(*post_rows)
    gemeente, plaats, regio, themas, signalen, bewijs = zip(*(tags[i] for i in ids))
    return pd.DataFrame({
        "datum": [days[d] for d in day], "platform": list(platform), "bron": list(source), "gemeente": list(gemeente),
        "plaats": list(plaats), "regio": list(regio), "themas": list(themas), "signalen": list(signalen),
        "tekst": list(text), "link": [u or "" for u in url], "bewijs": list(bewijs), "aantal_keer": list(n),
    }, columns=COLUMNS).astype({"aantal_keer": "int64"})
