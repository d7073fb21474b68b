"""overzicht.csv: unique posts per municipality (and village) / region × theme, week on week.

The counting reads the week's posts and tags from SQL (two plain reads per week) and counts
in Python; see ``compute``. The result of a week is kept in ``weekly_counts``, which
outlives the post text (retention), and is used for past weeks whose posts are gone.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Sequence

import pandas as pd
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from listener.reports.weeks import Week
from listener.store.models import Post, PostTag, WeeklyCount, utcnow
from listener.store.queries import dialect_insert

log = logging.getLogger(__name__)

THEMES = ("voorzieningen", "onderwijs", "zorg", "mobiliteit", "wonen", "werk", "jongeren", "ouderen",
          "gemeenschap", "digitaal", "bevolking")
ALL_THEMES = "alle thema's"
KIND_NL = {"all": "totaal", "municipality": "gemeente", "region": "regio"}
KIND_ORDER = {"all": 0, "municipality": 1, "region": 2}
COLUMNS = ["soort", "code", "gebied", "plaats", "thema", "berichten", "vorige_week", "gemiddelde_4_weken",
           "verschil_vorige_week", "verschil_gemiddelde", "probleem", "initiatief"]
COUNT_COLUMNS = ["berichten", "vorige_week", "gemiddelde_4_weken", "probleem", "initiatief"]

Key = tuple[str, str, str, str]  # area_kind, area, place, theme ('' = all themes)


@dataclass
class Counts:
    n_posts: int = 0
    n_probleem: int = 0
    n_initiatief: int = 0


WeekCounts = dict[Key, Counts]


def when_in(start: Any, end: Any):  # noqa: ANN201 - SQL expression
    """Posts by created time, else collected time, in [start, end); written so both indexes serve."""
    p = Post.__table__.c
    return or_(and_(p.created_at >= start, p.created_at < end),
               and_(p.created_at.is_(None), p.collected_at >= start, p.collected_at < end))


def compute(session: Session, weeks: Sequence[Week], levels: Iterable[str] = ("all", "municipality", "place", "region")
            ) -> tuple[dict[str, WeekCounts], dict[str, int]]:
    """Unique posts (by content hash) per week and key, from posts ⋈ post_tags.

    Per week two plain reads (the week's posts with their content hash; their tags, in one
    join) and the counting in Python: SQLite took 5 s per week of 60,000 posts for the same
    GROUP BYs over materialised joins, Python dictionaries take a fraction of that. Returns
    ({week: {key: Counts}}, {week: number of stored posts, tagged or not}).
    """
    out: dict[str, WeekCounts] = {}
    stored: dict[str, int] = {}
    for w in sorted(weeks, key=lambda w: w.start):
        out[w.label], stored[w.label] = _count_week(session, w, set(levels))
    return out, stored


def _count_week(session: Session, week: Week, levels: set[str]) -> tuple[WeekCounts, int]:
    p = Post.__table__.c
    pt = PostTag.__table__.c
    in_week = when_in(week.start, week.end)
    # One row per unique text: the earliest stored copy stands for the others (as in berichten.csv).
    rep: dict[str, int] = {}
    n_stored = 0
    for pid, digest in session.execute(select(p.id, p.content_hash).where(in_week)).all():
        n_stored += 1
        if digest not in rep or pid < rep[digest]:
            rep[digest] = pid
    counts: WeekCounts = {}
    if not n_stored:
        return counts, 0
    reps = set(rep.values())
    tags: dict[int, list[tuple[str, str, str | None]]] = {}
    for pid, kind, tag, place in session.execute(
            select(pt.post_id, pt.kind, pt.tag, pt.place)
            .join_from(Post.__table__, PostTag.__table__, pt.post_id == p.id).where(in_week)).all():
        if pid in reps:
            tags.setdefault(pid, []).append((kind, tag, place))
    for ts in tags.values():
        themes = {tag for kind, tag, _ in ts if kind == "theme"}
        if not themes:
            continue  # only posts with a theme count: a post without one is not relevant
        signals = {tag for kind, tag, _ in ts if kind == "signal"}
        prob, init = int("probleem" in signals), int("initiatief" in signals)
        areas: set[tuple[str, str, str]] = set()
        for kind, tag, place in ts:
            if kind in ("municipality", "region") and kind in levels:
                areas.add((kind, tag, ""))
            if kind == "municipality" and place and "place" in levels:
                areas.add(("municipality", tag, place))
        if "all" in levels:
            areas.add(("all", "", ""))
        for kind, area, place in areas:
            for theme in (*themes, ""):
                c = counts.get((kind, area, place, theme))
                if c is None:
                    counts[(kind, area, place, theme)] = Counts(1, prob, init)
                else:
                    c.n_posts += 1
                    c.n_probleem += prob
                    c.n_initiatief += init
    return counts, n_stored


def load_stored(session: Session, weeks: Sequence[Week], kinds: Sequence[str] | None = None) -> dict[str, WeekCounts]:
    """``weekly_counts`` rows of these weeks; a 'place' row is a municipality row with a village."""
    w = WeeklyCount.__table__.c
    q = select(w.week, w.area_kind, w.area, w.place, w.theme, w.n_posts, w.n_probleem, w.n_initiatief) \
        .where(w.week.in_([wk.label for wk in weeks]))
    if kinds:
        q = q.where(w.area_kind.in_(kinds))
    out: dict[str, WeekCounts] = {}
    for week, kind, area, place, theme, n, nprob, ninit in session.execute(q).all():
        out.setdefault(week, {})[(kind, area, place or "", theme or "")] = Counts(n, nprob, ninit)
    return out


def save(session: Session, week: Week, counts: WeekCounts, replace: bool) -> None:
    """Upsert one week's aggregates into ``weekly_counts`` (``replace``: drop rows no longer there)."""
    if replace:
        session.execute(delete(WeeklyCount).where(WeeklyCount.week == week.label))
    if not counts:
        return
    now = utcnow()
    rows = [{"week": week.label, "area_kind": k[0], "area": k[1], "place": k[2], "theme": k[3],
             "n_posts": c.n_posts, "n_probleem": c.n_probleem, "n_initiatief": c.n_initiatief, "computed_at": now}
            for k, c in counts.items()]
    insert = dialect_insert(session)
    stmt = insert(WeeklyCount)
    stmt = stmt.on_conflict_do_update(
        index_elements=["week", "area_kind", "area", "place", "theme"],
        set_={c: stmt.excluded[c] for c in ("n_posts", "n_probleem", "n_initiatief", "computed_at")})
    session.execute(stmt, rows)


def window_counts(session: Session, week: Week) -> dict[str, WeekCounts]:
    """Counts for the report week and the five weeks before it, kept in ``weekly_counts``.

    The report week is recomputed from the posts (and its stored aggregates replaced) unless
    its posts are gone. An earlier week that was reported before keeps its stored aggregates,
    which were made while all its posts were there; one never reported is computed and stored.
    """
    weeks = [week.shift(-i) for i in range(6)]
    stored = load_stored(session, weeks)
    todo = [w for w in weeks if w == week or w.label not in stored]
    computed, n_stored = compute(session, todo)
    out: dict[str, WeekCounts] = {}
    for w in weeks:
        kept = stored.get(w.label)
        if w == week:
            if n_stored[w.label] or kept is None:
                save(session, w, computed[w.label], replace=True)
                out[w.label] = computed[w.label]
            else:
                log.info("week %s: no posts left (retention); using the stored weekly counts", w)
                out[w.label] = kept
        elif kept is not None:
            out[w.label] = kept
        else:
            if n_stored[w.label]:
                save(session, w, computed[w.label], replace=False)
            out[w.label] = computed[w.label]
    return out


def theme_trend(session: Session, week: Week, n_weeks: int = 12,
                window: dict[str, WeekCounts] | None = None) -> pd.DataFrame:
    """Unique posts per theme over the last ``n_weeks`` weeks (rows: week label, columns: theme)."""
    weeks = [week.shift(-i) for i in range(n_weeks - 1, -1, -1)]
    have = dict(window or {})
    missing = [w for w in weeks if w.label not in have]
    if missing:
        stored = load_stored(session, missing, kinds=["all"])
        todo = [w for w in missing if w.label not in stored]
        if todo:
            # Computed in full and stored, as for the comparison weeks: the next report reads them.
            computed, n_stored = compute(session, todo)
            for w in todo:
                if n_stored[w.label]:
                    save(session, w, computed[w.label], replace=False)
            stored.update(computed)
        have.update(stored)
    data = {t: [have.get(w.label, {}).get(("all", "", "", t), Counts()).n_posts for w in weeks] for t in THEMES}
    return pd.DataFrame(data, index=[w.label for w in weeks])


def municipality_labels(session: Session, codes: Iterable[str]) -> dict[str, str]:
    """Official names of CBS codes: from the gazetteer, else a stored tag, else the code itself."""
    try:
        from classifiers.gazetteer import resolve_municipality
    except ImportError:
        resolve_municipality = None  # type: ignore[assignment]
    out: dict[str, str] = {}
    for code in sorted(set(codes)):
        hit = resolve_municipality(code) if resolve_municipality else None
        if hit and hit[0] == code:
            out[code] = hit[1]
            continue
        label = session.scalar(select(PostTag.label).where(PostTag.kind == "municipality", PostTag.tag == code,
                                                           PostTag.label.is_not(None)).limit(1))
        out[code] = label or code
    return out


@functools.lru_cache(maxsize=4096)  # the same few quarter values come back for every row
def _round1(value: float) -> float:
    """One decimal, halves rounded away from zero (1.25 → 1.3), as people expect in a table."""
    return float(Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _avg(values: list[int]) -> float:
    return _round1(sum(values) / len(values))


def frame(window: dict[str, WeekCounts], week: Week, labels: dict[str, str],
          gemeenten: Iterable[str] = ()) -> pd.DataFrame:
    """The overzicht table (raw numbers) from the six weeks' counts."""
    cur, prev = window.get(week.label, {}), window.get(week.shift(-1).label, {})
    before = [window.get(week.shift(-i).label, {}) for i in range(2, 6)]
    keys: set[Key] = set()
    for counts in (cur, prev, *before):
        keys.update(k for k, c in counts.items() if c.n_posts)
    only = set(gemeenten)
    rows: list[dict[str, Any]] = []
    for key in keys:
        kind, area, place, theme = key
        if only and (kind != "municipality" or area not in only):
            continue
        c, p = cur.get(key, Counts()), prev.get(key, Counts())
        avg = _avg([b.get(key, Counts()).n_posts for b in before])
        rows.append({
            "soort": KIND_NL[kind],
            "code": area if kind == "municipality" else "",
            "gebied": labels.get(area, area) if kind == "municipality" else (area or "alle gebieden"),
            "plaats": place,
            "thema": theme or ALL_THEMES,
            "berichten": c.n_posts, "vorige_week": p.n_posts, "gemiddelde_4_weken": avg,
            "verschil_vorige_week": c.n_posts - p.n_posts, "verschil_gemiddelde": _round1(c.n_posts - sum(b.get(key, Counts()).n_posts for b in before) / 4),
            "probleem": c.n_probleem, "initiatief": c.n_initiatief,
            "_sort": (KIND_ORDER[kind], (labels.get(area, area) or "").casefold(), place.casefold(),
                      -1 if not theme else THEMES.index(theme) if theme in THEMES else 99, theme),
        })
    rows.sort(key=lambda r: r["_sort"])
    df = pd.DataFrame(rows, columns=[*COLUMNS, "_sort"]).drop(columns="_sort")
    return df.astype({c: "int64" for c in ("berichten", "vorige_week", "verschil_vorige_week", "probleem", "initiatief")})


def suppress(df: pd.DataFrame, min_count: int) -> pd.DataFrame:
    """Cells with 0 < value < min_count become '<N'; differences that would reveal them go blank."""
    if min_count <= 1 or df.empty:
        return df
    out = df.astype({c: object for c in [*COUNT_COLUMNS, "verschil_vorige_week", "verschil_gemiddelde"]})
    mark = f"<{min_count}"
    small = {c: (df[c] > 0) & (df[c] < min_count) for c in COUNT_COLUMNS}
    for c in COUNT_COLUMNS:
        out.loc[small[c], c] = mark
    out.loc[small["berichten"] | small["vorige_week"], "verschil_vorige_week"] = ""
    out.loc[small["berichten"] | small["gemiddelde_4_weken"], "verschil_gemiddelde"] = ""
    return out


def build(session: Session, week: Week, gemeenten: Iterable[str] = (), min_count: int = 1) -> pd.DataFrame:
    """The overzicht table of ``week`` (updates ``weekly_counts``; the caller commits)."""
    window = window_counts(session, week)
    codes = {k[1] for counts in window.values() for k in counts if k[0] == "municipality"}
    return suppress(frame(window, week, municipality_labels(session, codes), gemeenten), min_count)
