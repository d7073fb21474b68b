"""Plain SQL for the report's reads: one statement per table, values as the driver gives them.

The report reads tens of thousands of posts and tags a week. SQLAlchemy's result processing
(a Row per row, a datetime parsed per timestamp on SQLite) cost more than the queries
themselves, so these statements are textual SQL that both SQLite and PostgreSQL run, with
typed bind parameters (timestamps go in as the store writes them) and untyped results.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any, Iterable, Sequence

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from listener.reports.weeks import Week
from listener.schedules import TZ
from listener.store.models import UTCDateTime

# The id and content hash of the posts of a week, by created time, else collected time, in
# [start, end), as a subquery (use as ``FROM {WEEK_POSTS} p``): two index range scans. Written as one
# condition with OR, PostgreSQL either visited the table (a bitmap scan over 39,000 pages for a week
# at 1M posts) or filtered the whole covering index (800,000 entries); each branch here reads only
# the week's entries of ix_posts_fts_report_when (migration 0004), without the table.
WEEK_POSTS = ("(SELECT w.id, w.content_hash FROM posts w WHERE w.created_at >= :start AND w.created_at < :end "
              "UNION ALL SELECT w.id, w.content_hash FROM posts w "
              "WHERE w.created_at IS NULL AND w.collected_at >= :start AND w.collected_at < :end)")
WHEN = "coalesce(p.created_at, p.collected_at)"
SQLITE_MMAP_BYTES = 1 << 31  # SQLite caps it at its compile-time limit (2 GB by default)
PG_WORK_MEM = "64MB"


def day_starts(week: Week) -> list[datetime]:
    """Tuesday to Sunday 00:00 Amsterdam time, in UTC: the six day boundaries inside the week."""
    return [datetime.combine(week.monday + timedelta(days=i), time.min, TZ).astimezone(timezone.utc)
            for i in range(1, 7)]


def day_index(column: str = WHEN) -> str:
    """SQL for the day of the week (0 = Monday, Amsterdam time) of a timestamp inside the week."""
    return "CASE " + " ".join(f"WHEN {column} < :day{i} THEN {i - 1}" for i in range(1, 7)) + " ELSE 6 END"


def week_params(week: Week) -> dict[str, Any]:
    """Bind values for ``WEEK_POSTS`` and ``day_index``."""
    out: dict[str, Any] = {"start": week.start, "end": week.end}
    out.update({f"day{i}": d for i, d in enumerate(day_starts(week), 1)})
    return out


def execute(session: Session, sql: str, params: dict[str, Any], expanding: Iterable[str] = ()) -> Any:
    """Run ``sql``; datetime parameters are bound as the store stores them, ``expanding`` ones as lists."""
    used = {k: v for k, v in params.items() if f":{k}" in sql}
    binds = [bindparam(k, type_=UTCDateTime()) for k, v in used.items() if isinstance(v, datetime)]
    binds += [bindparam(k, expanding=True) for k in expanding if k in used]
    stmt = text(sql).bindparams(*binds) if binds else text(sql)
    return session.execute(stmt, used)


def rows(session: Session, sql: str, params: dict[str, Any], expanding: Iterable[str] = ()) -> Sequence[Any]:
    """All rows of ``sql`` as the driver's tuples; datetime parameters are bound as the store stores them."""
    result = execute(session, sql, params, expanding)
    try:
        return result.cursor.fetchall()  # the driver's tuples: no Row object per row
    finally:
        result.close()


def tune(session: Session) -> None:
    """Settings for the report's transaction: it reads tens of thousands of scattered rows.

    SQLite: read the file through a memory map instead of a system call per page (posts of a
    week are spread over the whole file; this connection only). PostgreSQL: room to sort and
    hash the week's tags in memory; no JIT compilation (these statements run for about a second,
    and compiling them added 35 ms each); and random page reads priced as on an SSD or from memory
    (``random_page_cost`` 1.1 instead of 4, which assumes a spinning disk): the week's posts and
    tags are then read through their indexes, 0.8 s instead of 1.2 s for the post tables at 1M
    posts, where the default had PostgreSQL read both whole tables (this transaction only).
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}"))
    else:
        session.execute(text(f"SET LOCAL work_mem = '{PG_WORK_MEM}'"))
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL random_page_cost = 1.1"))
