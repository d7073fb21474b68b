"""dekking.csv: which sources ran in the week, which failed or were skipped and why, what each gave.

Silence in a municipality can mean that nothing happened or that a source did not run; this
table (also at the top of rapport.html) tells the two apart.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from listener.privacy import mask_url_credentials
from listener.reports.overview import when_in
from listener.reports.weeks import Week
from listener.store.models import Post, Run, Source

COLUMNS = ["bron", "naam", "soort", "status", "reden", "keer_gedraaid", "gelukt", "mislukt", "overgeslagen",
           "uitgesteld", "opgehaald", "nieuw", "berichten_deze_week"]
OK = ("ok", "not_modified")
STATUS_NL = {"ok": "ok", "failed": "mislukt", "skipped": "overgeslagen", "deferred": "uitgesteld",
             "partial": "deels mislukt", "none": "niet gedraaid", "disabled": "uitgezet", "running": "bezig"}


def _status(per: dict[str, int], enabled: bool) -> str:
    total = sum(per.values())
    if not total:
        return STATUS_NL["none" if enabled else "disabled"]
    ok = sum(per.get(s, 0) for s in OK)
    failed = per.get("failed", 0)
    if failed and ok:
        return STATUS_NL["partial"]
    if failed:
        return STATUS_NL["failed"]
    if ok:
        return STATUS_NL["ok"]
    for s in ("deferred", "skipped", "running"):
        if per.get(s):
            return STATUS_NL[s]
    return STATUS_NL["ok"]


def build(session: Session, week: Week) -> pd.DataFrame:
    """One row per known source: its runs in ``week`` (from ``runs``) and the posts it gave."""
    sources = {s.id: s for s in session.scalars(select(Source))}
    in_week = (Run.started_at >= week.start) & (Run.started_at < week.end)
    per: dict[str, dict[str, int]] = {}
    sums: dict[str, tuple[int, int]] = {}
    for sid, status, n, fetched, new in session.execute(
            select(Run.source_id, Run.status, func.count(), func.sum(Run.fetched), func.sum(Run.new))
            .where(in_week).group_by(Run.source_id, Run.status)):
        per.setdefault(sid, {})[status] = n
        f, w = sums.get(sid, (0, 0))
        sums[sid] = (f + (fetched or 0), w + (new or 0))
    reasons: dict[str, str] = {}
    for sid, error in session.execute(
            select(Run.source_id, Run.error).where(in_week, Run.error.is_not(None), Run.status.not_in(OK))
            .order_by(Run.started_at, Run.id)):
        reasons[sid] = mask_url_credentials(" ".join(str(error).split()))[:300]
    posts = dict(session.execute(select(Post.source_id, func.count()).where(when_in(week.start, week.end))
                                 .group_by(Post.source_id)).all())
    rows: list[dict[str, Any]] = []
    for sid in sorted(set(sources) | set(per) | set(posts)):
        src = sources.get(sid)
        counts = per.get(sid, {})
        enabled = bool((src.config or {}).get("enabled", True)) if src else True
        rows.append({
            "bron": sid, "naam": (src.name or "") if src else "", "soort": src.kind if src else "",
            "status": _status(counts, enabled), "reden": reasons.get(sid, ""),
            "keer_gedraaid": sum(counts.values()), "gelukt": sum(counts.get(s, 0) for s in OK),
            "mislukt": counts.get("failed", 0), "overgeslagen": counts.get("skipped", 0),
            "uitgesteld": counts.get("deferred", 0), "opgehaald": sums.get(sid, (0, 0))[0],
            "nieuw": sums.get(sid, (0, 0))[1], "berichten_deze_week": posts.get(sid, 0),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def statement(df: pd.DataFrame) -> str:
    """One Dutch sentence for the top of the report: how complete this week's picture is."""
    if df.empty:
        return "Er zijn geen bronnen bekend: dit rapport zegt niets over wat er speelde."
    ran = df[df["gelukt"] > 0]
    problems = df[~df["status"].isin(["ok", "uitgezet"])]
    text = (f"{len(ran)} van de {len(df)} bronnen zijn deze week gelukt en leverden samen "
            f"{int(df['nieuw'].sum())} nieuwe berichten.")
    if len(problems):
        text += (f" {len(problems)} bron(nen) gaven niets of niet alles (mislukt, overgeslagen of niet gedraaid): "
                 "stilte in een gemeente betekent dan niet dat er niets gebeurde.")
    return text
