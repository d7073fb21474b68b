"""The weekly report: overzicht, berichten, initiatieven, dekking (CSV + XLSX) and rapport.html.

    >>> write_weekly_report(factory, "2026-W47")          # doctest: +SKIP
    [PosixPath('reports/2026-W47/overzicht.csv'), ...]
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from listener.audit import record
from listener.errors import ConfigError, InputError
from listener.reports import background, charts, coverage, excel, html, overview, posts, sql
from listener.reports.weeks import Week, last_complete_week, parse_week
from listener.store.db import session_scope, with_retries
from listener.store.models import PostTag, utcnow

log = logging.getLogger(__name__)

CODE_RE = re.compile(r"^GM\d{4}$", re.IGNORECASE)
HEATMAP_ROWS = 25
CHART_WEEKS = 12  # weeks in the chart of rapport.html (the comparison weeks are among them)
COUNT_GRACE = timedelta(days=1)  # a week is counted after a collection run from a day after its end
SEPARATORS = (";", ",")


def resolve_gemeenten(session: Session, values: Iterable[str]) -> dict[str, str]:
    """{CBS code: name} for each --gemeente value (code or official name); ConfigError if unknown."""
    values = list(values)
    resolve_municipality = None
    if values:  # the classifiers package (spaCy) is only imported when it is needed
        try:
            from classifiers.gazetteer import resolve_municipality
        except ImportError:
            pass
    out: dict[str, str] = {}
    for raw in values:
        value = " ".join(str(raw).split())
        hit = None
        if value and resolve_municipality is not None:
            hit = resolve_municipality(value)
        if hit is None and CODE_RE.match(value):
            code = value.upper()
            label = session.scalar(select(PostTag.label).where(PostTag.kind == "municipality", PostTag.tag == code).limit(1))
            hit = (code, label or code)
        if hit is None and value:
            row = session.execute(select(PostTag.tag, PostTag.label)
                                  .where(PostTag.kind == "municipality", PostTag.label == value).limit(1)).first()
            hit = (row[0], row[1]) if row else None
        if hit is None:
            shown = value[:60] + ("…" if len(value) > 60 else "")
            raise ConfigError(f"--gemeente: unknown or ambiguous municipality {shown!r} "
                              "(use a CBS code such as GM0014 or the official name)")
        out[hit[0]] = hit[1]
    return out


def _week(week: str | Week | None) -> Week:
    if isinstance(week, Week):
        return week
    return parse_week(week) if week else last_complete_week()


def _headline(window: dict[str, Any], week: Week, min_count: int, n_munis: int) -> list[tuple[str, str]]:
    key = ("all", "", "", "")
    cur = window.get(week.label, {}).get(key, overview.Counts())
    prev = window.get(week.shift(-1).label, {}).get(key, overview.Counts())

    def show(n: int) -> str:
        return f"<{min_count}" if 0 < n < min_count else str(n)

    diff = cur.n_posts - prev.n_posts
    return [("Unieke berichten", show(cur.n_posts)),
            ("Vorige week", show(prev.n_posts)),
            ("Verschil", f"{diff:+d}" if min_count <= 1 or (cur.n_posts >= min_count and prev.n_posts >= min_count) else ""),
            ("Over een probleem", show(cur.n_probleem)),
            ("Initiatieven", show(cur.n_initiatief)),
            ("Gemeenten genoemd", str(n_munis))]


def _heatmap_matrix(raw: pd.DataFrame) -> pd.DataFrame:
    areas = raw[(raw["soort"] == "gemeente") & (raw["plaats"] == "") & (raw["thema"] != overview.ALL_THEMES)]
    if areas.empty or areas["berichten"].sum() == 0:
        return pd.DataFrame()
    m = areas.pivot_table(index="gebied", columns="thema", values="berichten", aggfunc="sum", fill_value=0)
    m = m[[t for t in overview.THEMES if t in m.columns]]
    m = m.loc[m.sum(axis=1).sort_values(ascending=False, kind="stable").index[:HEATMAP_ROWS]]
    return m[m.sum(axis=1) > 0]


def _rises(table: pd.DataFrame) -> pd.DataFrame:
    areas = table[(table["soort"] != "totaal") & (table["thema"] != overview.ALL_THEMES)]
    diff = pd.to_numeric(areas["verschil_vorige_week"], errors="coerce")
    return areas[diff > 0].assign(_d=diff[diff > 0]).sort_values("_d", ascending=False, kind="stable").head(10)


def _safe_target(out_dir: Path, name: str) -> Path:
    target = out_dir / name
    if target.parent.resolve() != out_dir.resolve():  # pragma: no cover - names are constants
        raise InputError(f"{target}: outside the report directory")
    return target


def write_weekly_report(factory: sessionmaker[Session], week: str | Week | None = None, out_dir: Path | None = None,
                        gemeenten: Iterable[str] = (), min_count: int = 1, sep: str = ";",
                        xlsx: bool = True) -> list[Path]:
    """Write the report of ``week`` (default: the last complete ISO week) into ``out_dir``.

    ``out_dir`` defaults to ``reports/<week>``; only fixed file names are written inside it.
    Also upserts the week's aggregates into ``weekly_counts`` and records an audit entry.
    """
    wk = _week(week)
    if sep not in SEPARATORS:
        raise ConfigError(f"--sep: use ';' or ',' (not {sep!r})")
    if min_count < 1:
        raise ConfigError("--min-count: must be 1 or more")
    out = Path(out_dir) if out_dir is not None else Path("reports") / wk.label
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the report directory: {exc.strerror or exc}") from None
    if not out.is_dir():
        raise InputError(f"{out}: not a directory")
    # Forked now, the helper process imports the gazetteer (classifiers, spaCy) and matplotlib
    # while this one reads the database; it names the municipalities, then draws the charts.
    chart_worker = background.Worker(_prepare_helper)
    try:
        return _write(factory, wk, out, gemeenten, min_count, sep, xlsx, chart_worker)
    finally:
        chart_worker.close()


def _write(factory: sessionmaker[Session], wk: Week, out: Path, gemeenten: Iterable[str], min_count: int, sep: str,
           xlsx: bool, chart_worker: background.Worker) -> list[Path]:
    with session_scope(factory) as s:
        sql.tune(s)
        chosen = resolve_gemeenten(s, gemeenten)
        # The posts half (berichten, initiatieven, the workbook) runs in a second process from
        # here on, with its own connection and transaction, while this one counts. (A post
        # stored by a collector in between may be counted and not listed, or the reverse.)
        half = background.Coroutine(_posts_half, factory, wk, sorted(chosen), out, sep, xlsx,
                                    after_fork=lambda: _drop_inherited_connections(factory))
        try:
            window = overview.window_counts(s, wk)
            raw = overview.frame(s, wk, chosen,
                                 names=lambda codes: chart_worker.submit(overview.gazetteer_names, list(codes))())
            table = overview.suppress(raw, min_count)
            dekking = coverage.build(s, wk)
            trend = overview.theme_trend(s, wk, n_weeks=CHART_WEEKS, window=window)
            # The charts need only these aggregates: drawn in another process while the tables are made.
            charts_done = charts.render_in_background(
                trend, f"Unieke berichten per thema, {trend.index[0]} t/m {trend.index[-1]}",
                _heatmap_matrix(raw), f"Gemeente × thema, {wk.label}", min_count, worker=chart_worker)
            n_berichten, n_initiatieven, initiatives, post_paths = half.get()
            half.put((table, dekking))
            record(s, "report", {"week": wk.label, "gemeenten": sorted(chosen), "out": str(out),
                                 "min_count": min_count if min_count > 1 else None}, n_berichten)
        except BaseException:
            half.close()
            raise
    try:
        n_munis = int(raw[(raw["soort"] == "gemeente") & (raw["plaats"] == "")
                          & (raw["thema"] == overview.ALL_THEMES) & (raw["berichten"] > 0)].shape[0])
        written = [excel.write_csv(table, _safe_target(out, "overzicht.csv"), sep), *post_paths,
                   excel.write_csv(dekking, _safe_target(out, "dekking.csv"), sep)]
        trend_png, heatmap_png = charts_done()
        scope = ", ".join(chosen.values()) if chosen else "alle gemeenten en regio's"
        page = html.Page(
            week=wk.label,
            period=f"maandag {wk.monday.isoformat()} t/m zondag {wk.sunday.isoformat()} (Europe/Amsterdam) — {scope}",
            coverage_text=coverage.statement(dekking), coverage=dekking,
            headline=_headline(window, wk, min_count, n_munis) if not chosen else
            [("Unieke berichten", str(n_berichten)), ("Initiatieven", str(n_initiatieven))],
            trend_png=trend_png, heatmap_png=heatmap_png, initiatives=initiatives, rises=_rises(table),
            notes=["Een bericht telt één keer, ook als dezelfde tekst in meer bronnen stond (unieke berichten).",
                   "Alleen berichten met minstens één thema tellen mee.",
                   "De grafiek over 12 weken telt alle gemeenten en regio's samen."
                   + (f" Aantallen onder {min_count} staan als <{min_count}." if min_count > 1 else "")],
        )
        for name, png in (("themas_12_weken.png", trend_png), ("heatmap_gemeente_thema.png", heatmap_png)):
            written.append(excel.atomic_write(_safe_target(out, name), lambda fh, b=png: fh.write(b), "wb"))
        written.append(excel.atomic_write(_safe_target(out, "rapport.html"), lambda fh: fh.write(html.render(page)),
                                          "w", encoding="utf-8"))
        workbook = half.get()  # also: berichten.csv and initiatieven.csv are complete
        if workbook is not None:
            written.append(workbook)
    finally:
        half.close()
    log.info("weekly report %s: %d posts, written to %s", wk.label, n_berichten, out)
    return written


_INHERITED: list[Any] = []


def _prepare_helper() -> None:
    overview.gazetteer_names(["GM0000"])  # imports the classifiers package and loads the gazetteer
    charts.prepare()


def _drop_inherited_connections(factory: sessionmaker[Session]) -> None:
    """In a forked process: new connections from here on; the parent's are never used or closed here.

    The old pool stays referenced until the process exits (without clean-up), so its
    connections are not even closed by the garbage collector.
    """
    bind = factory.kw.get("bind")
    if bind is not None:
        _INHERITED.append(bind.pool)
        bind.dispose(close=False)


def _posts_half(factory: sessionmaker[Session], wk: Week, codes: list[str], out: Path, sep: str,
                xlsx: bool) -> Iterator[Any]:
    """berichten.csv and initiatieven.csv, and (given the other two tables) rapport.xlsx.

    Yields (rows in berichten, rows in initiatieven, the first 20 initiatives, the CSV paths);
    then, sent (overzicht, dekking), completes the workbook and yields its path (or None
    without ``xlsx``) once the CSVs are complete too.
    """
    with session_scope(factory) as s:
        sql.tune(s)
        berichten = posts.build(s, wk, codes)
    initiatieven = berichten[["initiatief" in sig.split(", ") for sig in berichten["signalen"]]] \
        .reset_index(drop=True) if len(berichten) else berichten
    paths = [_safe_target(out, "berichten.csv"), _safe_target(out, "initiatieven.csv")]
    # The CSVs are written by a process forked here (it has the tables without copying them),
    # and the workbook's long sheets by a thread of this one while the other process counts:
    # the workbook only waits for the two short tables at the end.
    csvs_done = background.fork_call(_write_csvs, [(berichten, paths[0]), (initiatieven, paths[1])], sep)
    workbook = _Workbook(_safe_target(out, "rapport.xlsx"), berichten, initiatieven) if xlsx else None
    try:
        table, dekking = yield len(berichten), len(initiatieven), initiatieven.head(20), paths
        path = workbook.finish(table, dekking) if workbook is not None else None
        csvs_done()
    finally:
        if workbook is not None:
            workbook.abandon()
    yield path


class _Workbook:
    """rapport.xlsx written by a thread: the long sheets at once, the two short ones once given."""

    def __init__(self, target: Path, berichten: pd.DataFrame, initiatieven: pd.DataFrame) -> None:
        self._late: queue.Queue = queue.Queue(maxsize=1)
        self._tables: dict[str, pd.DataFrame] = {}
        self._result: dict[str, Any] = {}
        sheets = {"Overzicht": lambda: self._table("Overzicht"), "Berichten": berichten,
                  "Initiatieven": initiatieven, "Dekking": lambda: self._table("Dekking")}
        self._thread = threading.Thread(target=self._write, args=(sheets, target), daemon=True,
                                        name="report-workbook")
        self._thread.start()

    def _write(self, sheets: dict[str, Any], target: Path) -> None:
        try:
            self._result["path"] = excel.write_xlsx(sheets, target)
        except BaseException as exc:  # noqa: BLE001 - raised again by finish()
            self._result["error"] = exc

    def _table(self, name: str) -> pd.DataFrame:
        if not self._tables:
            got = self._late.get()
            if got is None:
                raise RuntimeError("the report stopped before the workbook was complete")
            self._tables.update(zip(("Overzicht", "Dekking"), got))
        return self._tables[name]

    def finish(self, table: pd.DataFrame, dekking: pd.DataFrame) -> Path:
        self._late.put((table, dekking))
        self._thread.join()
        if "error" in self._result:
            raise self._result["error"]
        return self._result["path"]

    def abandon(self) -> None:
        """Let a thread still waiting for the short tables end (the workbook is not written)."""
        if self._thread.is_alive():
            try:
                self._late.put_nowait(None)
            except queue.Full:
                pass
            self._thread.join()


def _write_csvs(tables: list[tuple[pd.DataFrame, Path]], sep: str) -> list[Path]:
    return [excel.write_csv(df, path, sep) for df, path in tables]


def ensure_weekly_counts(session: Session, weeks: Iterable[str]) -> int:
    """Store the aggregates of ``weeks`` before retention purges their posts; rows written.

    Called by ``listener.retention``, after an import and after a collection run. Same rows as
    the report makes (totals, 'all themes' and village rows included); a stored count is only
    ever raised here, never lowered, because a week may already have lost some posts
    (``overview.reconcile``).
    """
    return sum(overview.reconcile(session, parse_week(label)) for label in sorted(set(weeks)))


def store_weekly_counts(factory: sessionmaker[Session], weeks: Iterable[str], now: datetime | None = None,
                        recent: int | None = None) -> list[str]:
    """Count and store the aggregates of those of ``weeks`` that have ended at ``now``; the weeks counted.

    A report reads the five weeks before its own and the twelve of its chart from
    ``weekly_counts`` and counts from the posts only those it finds missing there. Each week is
    counted in a transaction of its own; a stored count is only raised (``ensure_weekly_counts``).
    A week that has not ended yet is left to the report: its posts are still coming in.
    ``recent``: only the weeks among the last ``recent`` complete ones (those the next reports
    read; a report of an older week counts what it misses itself).
    """
    now = now or utcnow()
    first = last_complete_week(now).shift(-(recent - 1)).start if recent else None
    done = [label for label in sorted(set(weeks))
            if parse_week(label).end <= now and (first is None or parse_week(label).start >= first)]
    bind = factory.kw.get("bind")
    server = bind is not None and bind.dialect.name == "postgresql"

    def one(label: str) -> None:
        def attempt() -> None:
            with session_scope(factory) as s:
                if server:
                    sql.tune(s)  # the report's settings for this count (work_mem, no JIT)
                ensure_weekly_counts(s, [label])

        with_retries(attempt, f"weekly counts of {label}")

    # PostgreSQL: weeks side by side, one connection each, so that two cores of the server count
    # two weeks at once (16 weeks at 1,000,000 posts: 17.5 s → 12.5 s). Not on SQLite: there the
    # counting runs in this process, and two at once saved less (23 → 17-20 s) than the memory
    # it cost (a second page cache and temporary tables: 560 → 785 MB at the end of the import).
    workers = min(len(done), os.cpu_count() or 1) if server else 1
    if workers > 1:
        with ThreadPoolExecutor(workers, thread_name_prefix="weekly-counts") as pool:
            list(pool.map(one, done))
    else:
        for label in done:
            one(label)
    if done:
        log.info("weekly counts stored for %d weeks (%s .. %s)", len(done), done[0], done[-1])
    return done


def recount_weeks(factory: sessionmaker[Session], weeks: Iterable[str], now: datetime | None = None) -> list[str]:
    """After posts were re-tagged: count the ended ``weeks`` again and store the new counts; the weeks counted.

    A week's stored counts are replaced (they may go down: a post that lost its theme no longer
    counts), except in a week that retention has purged posts from: its stored counts were made
    while those posts were there, so they are only raised. A week whose posts are all gone keeps
    its counts.
    """
    now = now or utcnow()
    weeks = sorted(set(weeks))
    ended = [label for label in weeks if parse_week(label).end <= now]
    with session_scope(factory) as s:
        overview.drop_stamps(s, weeks)  # their tags changed: a report must not take their counts as current
        purged = overview.purged_weeks(s) if ended else set()
    done = []
    for label in ended:
        with session_scope(factory) as s:
            if label in purged:
                ensure_weekly_counts(s, [label])
            else:
                _, (n_posts, _) = overview.recount(s, parse_week(label))
                if not n_posts:
                    continue  # no posts left: the stored counts stay
        done.append(label)
    return done


def refresh_weekly_counts(factory: sessionmaker[Session], now: datetime | None = None, n_weeks: int = CHART_WEEKS,
                          grace: timedelta = COUNT_GRACE, recent: int = 2) -> list[str]:
    """After a collection run: count the weeks a report would read that have no stored counts
    yet, and raise those of the ``recent`` last weeks that received posts since they were counted.

    The ``n_weeks`` weeks that ended at least ``grace`` before ``now`` (late posts of a week
    come in on the next day). A week without counts only counts when it has a post with a theme,
    and not when it was counted from the posts it has now and gave nothing to store (its themed
    posts are all later copies of untagged ones): else it would be counted after every run. Search
    collectors bring posts of the last days, so the last weeks also get posts after their report
    ran: those are counted again (only raised) once their posts differ from their stamp, so that
    the next report compares with the whole week. Once the weeks are up to date this is a few
    small queries per run. Returns the weeks counted.
    """
    now = now or utcnow()
    last = last_complete_week(now - grace)
    weeks = [last.shift(-i) for i in range(n_weeks)]
    todo = []
    with session_scope(factory) as s:
        have = overview.stored_weeks(s, weeks)
        for i, w in enumerate(weeks):
            if w.label in have:
                if i < recent and not overview.stamp_matches(s, w, overview.week_stamp(s, w)):
                    todo.append(w.label)
            elif overview.has_themed_posts(s, w) and not overview.stamp_matches(s, w, overview.week_stamp(s, w)):
                todo.append(w.label)
    return store_weekly_counts(factory, todo, now) if todo else []


def build(session: Session, week: Week) -> pd.DataFrame:
    """The report seam: the overzicht table of ``week`` (see ``overview.build``)."""
    return overview.build(session, week)
