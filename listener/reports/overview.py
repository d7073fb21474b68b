"""overzicht.csv: unique posts per municipality (and village) / region × theme, week on week.

A week is counted in SQL (one statement, see ``compute``) and kept in ``weekly_counts``,
which outlives the post text (retention) and is used for past weeks whose posts are gone.
The table itself is one GROUP BY over the six weeks' rows in ``weekly_counts`` (``frame``).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Iterable, Sequence

import pandas as pd
from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from listener.reports import sql
from listener.reports.weeks import Week
from listener.store.models import AuditEntry, Post, PostTag, WeeklyCount, WeeklyCountStamp, utcnow
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
    """Unique posts (by content hash) per week and key, counted in SQL from posts ⋈ post_tags.

    Returns ({week: {key: Counts}}, {week: number of stored posts, tagged or not}).
    """
    out: dict[str, WeekCounts] = {}
    stored: dict[str, int] = {}
    for w in sorted(weeks, key=lambda w: w.start):
        out[w.label], (stored[w.label], _) = _count_week(session, w, set(levels))
    return out, stored


def compute_week(session: Session, week: Week, stamp: Stamp | None = None) -> tuple[WeekCounts, Stamp]:
    """One week's counts (all levels) and the stamp of the posts they were counted from
    (``stamp``: one the caller took just before, instead of taking it again)."""
    return _count_week(session, week, set(_AREAS), stamp)


# --- stamps: what a week's stored counts were counted from (weekly_count_stamps) ---------------

# A week's stamp: what its stored counts were last counted from. Where it matches the week's posts
# now, the stored counts hold what those posts give: exactly, when the week was counted with
# replace (the report's week), or at least (``reconcile``, which never lowers a count).
Stamp = tuple[int, int | None]  # (the week's stored posts, their highest id)


def week_stamp(session: Session, week: Week) -> Stamp:
    """The week's stored posts and their highest id now (two index range scans)."""
    n, top = sql.rows(session, f"SELECT count(*), max(p.id) FROM {sql.WEEK_POSTS} p", sql.week_params(week))[0]
    return int(n), None if top is None else int(top)


def stamp_matches(session: Session, week: Week, stamp: Stamp) -> bool:
    """Whether the week's stored counts were counted from posts with this stamp (and nothing changed since)."""
    row = sql.rows(session, "SELECT n_stored, max_post_id FROM weekly_count_stamps WHERE week = :week",
                   {"week": week.label})
    return bool(row) and (int(row[0][0]), None if row[0][1] is None else int(row[0][1])) == stamp


def save_stamp(session: Session, week: Week, stamp: Stamp) -> None:
    """Record that the week's stored counts now equal a count of posts with ``stamp``."""
    table = WeeklyCountStamp.__table__
    stmt = dialect_insert(session)(table).values(week=week.label, n_stored=stamp[0], max_post_id=stamp[1],
                                                 counted_at=utcnow())
    session.execute(stmt.on_conflict_do_update(
        index_elements=["week"], set_={c: stmt.excluded[c] for c in ("n_stored", "max_post_id", "counted_at")}))


def recount(session: Session, week: Week, stamp: Stamp | None = None) -> tuple[WeekCounts, Stamp]:
    """Count ``week`` from its posts and store exactly that (replacing its rows), with its stamp.

    Nothing is stored for a week without posts (its stored counts, if any, stay). ``stamp``: one
    the caller took just before. Returns the counts and the stamp.
    """
    counts, stamp = compute_week(session, week, stamp)
    if stamp[0]:
        save(session, week, counts, replace=True)
        save_stamp(session, week, stamp)
    return counts, stamp


def reconcile(session: Session, week: Week, stamp: Stamp | None = None) -> int:
    """Count ``week`` from its posts and raise its stored counts where the posts give more; rows written.

    A stored count is never lowered here: a week may already have lost posts (retention,
    forget), and its stored counts were made while they were there. Afterwards the stored
    counts hold at least what the week's posts give, and the stamp says which posts those were
    (``stamp``: one the caller took just before).
    """
    computed, stamp = compute_week(session, week, stamp)
    if not stamp[0]:
        return 0
    kept = load_stored(session, [week]).get(week.label, {})
    merged = {}
    for key, c in computed.items():
        old = kept.get(key)
        if old is None or (c.n_posts, c.n_probleem, c.n_initiatief) > (old.n_posts, old.n_probleem, old.n_initiatief):
            merged[key] = Counts(max(c.n_posts, old.n_posts if old else 0),
                                 max(c.n_probleem, old.n_probleem if old else 0),
                                 max(c.n_initiatief, old.n_initiatief if old else 0))
    save(session, week, merged, replace=False)
    save_stamp(session, week, stamp)
    return len(merged)


def purged_weeks(session: Session) -> set[str]:
    """The weeks that retention purged posts from (its audit entries name them)."""
    out: set[str] = set()
    for filters in session.scalars(select(AuditEntry.filters).where(AuditEntry.command == "purge")):
        if isinstance(filters, dict) and not filters.get("dry_run"):
            out.update(w for w in filters.get("weeks") or () if isinstance(w, str))
    return out


def drop_stamps(session: Session, weeks: Iterable[str]) -> None:
    """The stored counts of these weeks may no longer equal a count of their posts (tags changed)."""
    labels = sorted(set(weeks))
    if labels:
        session.execute(delete(WeeklyCountStamp).where(WeeklyCountStamp.week.in_(labels)))


# One statement per week. The earliest stored copy of a text stands for the others (as in
# berichten.csv); only a copy with a theme counts. Each counted post is crossed with its areas
# (the municipalities and regions it names, its villages, and 'all') and its themes ('' = all
# themes), each once, and every (area, theme) is a plain COUNT/SUM. The week's tags are read
# once (``t``); the rest works on that small materialised set. Rows come (and are stored) per
# area, its themes before its all-themes row.
_COUNT = """WITH rep AS MATERIALIZED (
  SELECT min(p.id) AS id FROM {week_posts} p GROUP BY p.content_hash),
t AS MATERIALIZED (
  SELECT pt.post_id, pt.kind, pt.tag, pt.place FROM rep JOIN post_tags pt ON pt.post_id = rep.id),
rel AS MATERIALIZED (
  SELECT post_id, max(CASE WHEN kind = 'signal' AND tag = 'probleem' THEN 1 ELSE 0 END) AS prob,
         max(CASE WHEN kind = 'signal' AND tag = 'initiatief' THEN 1 ELSE 0 END) AS init
  FROM t GROUP BY post_id HAVING max(CASE WHEN kind = 'theme' THEN 1 ELSE 0 END) = 1),
th AS MATERIALIZED (
  SELECT DISTINCT post_id, tag AS theme FROM t WHERE kind = 'theme'
  UNION ALL SELECT post_id, '' FROM rel),
ar AS MATERIALIZED ({areas})
SELECT ar.kind, ar.area, ar.place, th.theme, count(*), sum(rel.prob), sum(rel.init)
FROM rel JOIN ar ON ar.post_id = rel.post_id JOIN th ON th.post_id = rel.post_id
GROUP BY ar.kind, ar.area, ar.place, th.theme
ORDER BY ar.kind, ar.area, ar.place, th.theme = '', th.theme"""
_AREAS = {
    "municipality": "SELECT post_id, kind, tag AS area, '' AS place FROM t WHERE kind = 'municipality'",
    "region": "SELECT post_id, kind, tag AS area, '' AS place FROM t WHERE kind = 'region'",
    "place": "SELECT post_id, kind, tag AS area, place FROM t WHERE kind = 'municipality' AND place <> ''",
    "all": "SELECT post_id, 'all' AS kind, '' AS area, '' AS place FROM rel",
}
_ALL_AREAS = " UNION ".join(_AREAS.values())


def has_themed_posts(session: Session, week: Week) -> bool:
    """Whether a post of ``week`` has a theme (without one, counting the week stores nothing)."""
    return bool(sql.rows(session, f"SELECT 1 FROM {sql.WEEK_POSTS} p WHERE EXISTS (SELECT 1 FROM post_tags t "
                                  "WHERE t.post_id = p.id AND t.kind = 'theme') LIMIT 1", sql.week_params(week)))


def _count_week(session: Session, week: Week, levels: set[str], stamp: Stamp | None = None
                ) -> tuple[WeekCounts, Stamp]:
    params = sql.week_params(week)
    if stamp is None:
        stamp = week_stamp(session, week)  # before the count: a post stored meanwhile makes it differ later
    counts: WeekCounts = {}
    if not stamp[0] or not levels & set(_AREAS):
        return counts, stamp
    # Always the statement with every level, and the rows of the others dropped here: PostgreSQL
    # guesses one row for ``rel`` (its HAVING), and with the 'all' part alone it then joined the
    # week's 49,000 posts with themselves in nested loops (300 s at 1M posts instead of 1.2 s).
    for kind, area, place, theme, n, nprob, ninit in sql.rows(
            session, _COUNT.format(week_posts=sql.WEEK_POSTS, areas=_ALL_AREAS), params):
        level = ("place" if place else "municipality") if kind == "municipality" else kind
        if level in levels:
            counts[(kind, area, place, theme)] = Counts(int(n), int(nprob), int(ninit))
    return counts, stamp


def load_stored(session: Session, weeks: Sequence[Week], kinds: Sequence[str] | None = None) -> dict[str, WeekCounts]:
    """``weekly_counts`` rows of these weeks; a 'place' row is a municipality row with a village."""
    params: dict[str, Any] = {"weeks": [wk.label for wk in weeks]}
    where = "week IN :weeks"
    if kinds:
        params["kinds"] = list(kinds)
        where += " AND area_kind IN :kinds"
    out: dict[str, WeekCounts] = {}
    for week, kind, area, place, theme, n, nprob, ninit in sql.rows(
            session, "SELECT week, area_kind, area, place, theme, n_posts, n_probleem, n_initiatief "
            f"FROM weekly_counts WHERE {where}", params, expanding=params):
        out.setdefault(week, {})[(kind, area, place or "", theme or "")] = Counts(n, nprob, ninit)
    return out


def stored_weeks(session: Session, weeks: Sequence[Week]) -> set[str]:
    """Which of ``weeks`` have rows in ``weekly_counts``."""
    return {r[0] for r in sql.rows(session, "SELECT DISTINCT week FROM weekly_counts WHERE week IN :weeks",
                                   {"weeks": [wk.label for wk in weeks]}, expanding=["weeks"])}


_SAVED = ("week", "area_kind", "area", "place", "theme", "n_posts", "n_probleem", "n_initiatief", "computed_at")
_KEY = ("week", "area_kind", "area", "place", "theme")


def save(session: Session, week: Week, counts: WeekCounts, replace: bool) -> None:
    """Upsert one week's aggregates into ``weekly_counts`` (``replace``: drop rows no longer there).

    ``replace`` writes only what differs from the stored rows (a report run twice on the same week
    writes nothing the second time): rewriting a week's 25,000 rows cost 0.4 s on PostgreSQL and
    left as many dead rows behind. ``computed_at`` says when a row's counts last changed.
    """
    table = WeeklyCount.__table__
    now, label = utcnow(), week.label
    if replace:
        # (place and theme are NOT NULL: one stored row per key)
        old = {(kind, area, place, theme): (row_id, n, nprob, ninit) for row_id, kind, area, place, theme, n, nprob,
               ninit in sql.rows(session, "SELECT id, area_kind, area, place, theme, n_posts, n_probleem, "
                                 "n_initiatief FROM weekly_counts WHERE week = :week", {"week": label})}
        gone = [{"i": v[0]} for k, v in old.items() if k not in counts]
        changed = [{"i": old[k][0], "n": c.n_posts, "p": c.n_probleem, "q": c.n_initiatief, "now": now}
                   for k, c in counts.items() if k in old and old[k][1:] != (c.n_posts, c.n_probleem, c.n_initiatief)]
        conn = session.connection()
        if gone:
            conn.execute(delete(table).where(table.c.id == bindparam("i")), gone)
        if changed:
            conn.execute(update(table).where(table.c.id == bindparam("i")).values(
                n_posts=bindparam("n"), n_probleem=bindparam("p"), n_initiatief=bindparam("q"),
                computed_at=bindparam("now")), changed)
        counts = {k: c for k, c in counts.items() if k not in old}
    if not counts:
        return
    # New rows as an upsert in either case: a report of the same week running at the same time may
    # have added them since they were read (the later one's counts win, as with any update).
    if session.get_bind().dialect.name == "postgresql":
        _copy_counts(session, [(label, *k, c.n_posts, c.n_probleem, c.n_initiatief, now) for k, c in counts.items()])
        return
    rows = [{"week": label, "area_kind": k[0], "area": k[1], "place": k[2], "theme": k[3],
             "n_posts": c.n_posts, "n_probleem": c.n_probleem, "n_initiatief": c.n_initiatief, "computed_at": now}
            for k, c in counts.items()]
    # Core, not the ORM: one executemany, no per-row ORM bookkeeping (25,000 rows a week at 1M posts).
    stmt = dialect_insert(session)(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={c: stmt.excluded[c] for c in ("n_posts", "n_probleem", "n_initiatief", "computed_at")})
    session.connection().execute(stmt, rows)


def _copy_counts(session: Session, rows: list[tuple]) -> None:
    """PostgreSQL: upsert the rows through COPY into a temporary table and one INSERT ... ON CONFLICT
    (a week's 25,000 rows: 0.1 s, against 0.4 s as INSERT statements). Same transaction as the
    session (its connection's driver connection, psycopg)."""
    cols = ", ".join(_SAVED)
    updates = ", ".join(f"{c} = excluded.{c}" for c in ("n_posts", "n_probleem", "n_initiatief", "computed_at"))
    cur = session.connection().connection.driver_connection.cursor()
    try:
        cur.execute(f"CREATE TEMPORARY TABLE report_counts_in ON COMMIT DROP AS SELECT {cols} FROM weekly_counts "
                    "WITH NO DATA")
        with cur.copy(f"COPY report_counts_in ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(f"INSERT INTO weekly_counts ({cols}) SELECT {cols} FROM report_counts_in "
                    f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {updates}")
        cur.execute("DROP TABLE report_counts_in")
    finally:
        cur.close()


def window_counts(session: Session, week: Week) -> dict[str, WeekCounts]:
    """Make ``weekly_counts`` hold the report week and the five weeks before it; their 'all' rows.

    The report week is counted from the posts again (and its stored aggregates replaced) unless
    its posts are gone, or unless its stored counts were counted from exactly the posts stored
    now (its stamp: nothing was stored, deleted or re-tagged in the week since). An earlier
    week that has stored aggregates keeps them (made while all its posts were there), raised
    where posts came in after they were counted (late posts: ``reconcile``); one without is
    counted and stored. Afterwards ``weekly_counts`` holds the six weeks' counts, which
    ``frame`` reads. Returns the totals ('all' rows) of the six weeks: {week: {key: Counts}}.
    """
    weeks = [week.shift(-i) for i in range(6)]
    stored = stored_weeks(session, weeks)
    for w in sorted(weeks, key=lambda w: w.start):
        now = None
        if w.label in stored:
            now = week_stamp(session, w)
            if not now[0]:
                if w == week:
                    log.info("week %s: no posts left (retention); using the stored weekly counts", w)
                continue
            if stamp_matches(session, w, now):
                continue  # nothing stored, deleted or re-tagged in the week since it was counted
            if w != week:
                reconcile(session, w, now)
                continue
        recount(session, w, now)  # (an earlier week here has no stored rows: the same as adding them)
    return load_stored(session, weeks, kinds=["all"])


def theme_trend(session: Session, week: Week, n_weeks: int = 12,
                window: dict[str, WeekCounts] | None = None) -> pd.DataFrame:
    """Unique posts per theme over the last ``n_weeks`` weeks (rows: week label, columns: theme)."""
    weeks = [week.shift(-i) for i in range(n_weeks - 1, -1, -1)]
    have = dict(window or {})
    missing = [w for w in weeks if w.label not in have]
    if missing:
        stored = load_stored(session, missing, kinds=["all"])
        todo = [w for w in missing if w.label not in stored]
        # Computed in full and stored, as for the comparison weeks: the next report reads them.
        for w in todo:
            stored[w.label] = recount(session, w)[0]
        have.update(stored)
    data = {t: [have.get(w.label, {}).get(("all", "", "", t), Counts()).n_posts for w in weeks] for t in THEMES}
    return pd.DataFrame(data, index=[w.label for w in weeks])


def gazetteer_names(codes: Iterable[str]) -> dict[str, str]:
    """Official names of those CBS codes the gazetteer knows ({} without the classifiers package).

    Importing the classifiers package (spaCy) takes longer than most of the report: the report
    asks a process forked at its start, which imports it meanwhile (see ``weekly``).
    """
    try:
        from classifiers.gazetteer import resolve_municipality
    except ImportError:
        return {}
    out: dict[str, str] = {}
    for code in sorted(set(codes)):
        hit = resolve_municipality(code)
        if hit and hit[0] == code:
            out[code] = hit[1]
    return out


def municipality_labels(session: Session, codes: Iterable[str],
                        names: Callable[[Iterable[str]], dict[str, str]] = gazetteer_names) -> dict[str, str]:
    """Official names of CBS codes: from the gazetteer (``names``), else a stored tag, else the code itself."""
    wanted = sorted(set(codes))
    out = names(wanted) if wanted else {}
    for code in wanted:
        if code not in out:
            label = session.scalar(select(PostTag.label).where(PostTag.kind == "municipality", PostTag.tag == code,
                                                               PostTag.label.is_not(None)).limit(1))
            out[code] = label or code
    return out


@functools.lru_cache(maxsize=4096)  # the same few quarter values come back for every row
def _round1(value: float) -> float:
    """One decimal, halves rounded away from zero (1.25 → 1.3), as people expect in a table."""
    return float(Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


# The overzicht table straight from weekly_counts: one row per key that had posts in one of
# the six weeks, with this week, last week and the sum of the four weeks before that.
_FRAME = """SELECT area_kind, area, coalesce(place, '') AS pl, coalesce(theme, '') AS th,
  sum(CASE WHEN week = :w0 THEN n_posts ELSE 0 END), sum(CASE WHEN week = :w1 THEN n_posts ELSE 0 END),
  sum(CASE WHEN week IN :before THEN n_posts ELSE 0 END),
  sum(CASE WHEN week = :w0 THEN n_probleem ELSE 0 END), sum(CASE WHEN week = :w0 THEN n_initiatief ELSE 0 END)
FROM weekly_counts WHERE week IN :weeks {only}
GROUP BY area_kind, area, coalesce(place, ''), coalesce(theme, '') HAVING max(n_posts) > 0"""


def frame(session: Session, week: Week, gemeenten: dict[str, str] | None = None,
          names: Callable[[Iterable[str]], dict[str, str]] = gazetteer_names) -> pd.DataFrame:
    """The overzicht table (raw numbers) from the six weeks in ``weekly_counts`` (see ``window_counts``).

    ``gemeenten`` ({CBS code: name}) limits it to those municipalities, named as given;
    ``names`` gives the gazetteer's names of codes (see ``municipality_labels``).
    """
    weeks = [week.shift(-i).label for i in range(6)]
    params: dict[str, Any] = {"w0": weeks[0], "w1": weeks[1], "before": weeks[2:], "weeks": weeks}
    only = ""
    if gemeenten:
        params["codes"] = sorted(gemeenten)
        only = "AND area_kind = 'municipality' AND area IN :codes"
    found = sql.rows(session, _FRAME.format(only=only), params, expanding=["before", "weeks", "codes"])
    labels = {**municipality_labels(session, {r[1] for r in found if r[0] == "municipality"}, names),
              **(gemeenten or {})}
    order = {t: i for i, t in enumerate(THEMES)}
    rows: list[tuple[Any, ...]] = []
    for kind, area, place, theme, n, n_prev, n_before, nprob, ninit in found:
        n, n_prev, n_before = int(n), int(n_prev), int(n_before)
        muni = kind == "municipality"
        rows.append((
            (KIND_ORDER[kind], (labels.get(area, area) or "").casefold(), place.casefold(),
             -1 if not theme else order.get(theme, 99), theme),
            KIND_NL[kind], area if muni else "", labels.get(area, area) if muni else (area or "alle gebieden"),
            place, theme or ALL_THEMES, n, n_prev, _round1(n_before / 4), n - n_prev, _round1(n - n_before / 4),
            int(nprob), int(ninit)))
    rows.sort(key=lambda r: r[0])
    df = pd.DataFrame([r[1:] for r in rows], columns=COLUMNS)
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
    window_counts(session, week)
    chosen = set(gemeenten)
    return suppress(frame(session, week, {c: municipality_labels(session, [c])[c] for c in chosen}), min_count)
