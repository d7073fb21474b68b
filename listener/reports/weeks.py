"""ISO weeks in Europe/Amsterdam: parsing ``2026-W47``, the last complete week, UTC bounds."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from listener.errors import ConfigError
from listener.schedules import TZ

WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, slots=True)
class Week:
    """One ISO week (Monday–Sunday, Europe/Amsterdam)."""

    year: int
    number: int

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def start(self) -> datetime:
        """Monday 00:00 Amsterdam time, in UTC."""
        return datetime.combine(self.monday, datetime.min.time(), TZ).astimezone(timezone.utc)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 Amsterdam time, in UTC (exclusive)."""
        return self.shift(1).start

    def shift(self, weeks: int) -> "Week":
        return week_of(self.monday + timedelta(weeks=weeks))

    def __str__(self) -> str:
        return self.label


def week_of(day: date) -> Week:
    y, w, _ = day.isocalendar()
    return Week(y, w)


def week_label(when: datetime) -> str:
    """The ISO week (Europe/Amsterdam) of a datetime (naive = UTC): ``2026-W48``."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return _day_label(when.astimezone(TZ).date())


@functools.lru_cache(maxsize=4096)  # an import labels a million posts of a few hundred days
def _day_label(day: date) -> str:
    return week_of(day).label


def parse_week(value: str) -> Week:
    """``2026-W47`` → Week; ConfigError (exit 2) for anything else.

    Example: ``parse_week("2026-W47").monday == date(2026, 11, 16)``
    """
    m = WEEK_RE.match((value or "").strip())
    if not m:
        raise ConfigError(f"--week: not an ISO week: {value!r} (use e.g. 2026-W47)")
    year, number = int(m.group(1)), int(m.group(2))
    try:
        date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ConfigError(f"--week: {year} has no week {number}") from None
    return Week(year, number)


def last_complete_week(now: datetime | None = None) -> Week:
    """The latest ISO week that has ended, in Amsterdam time."""
    now = now or datetime.now(timezone.utc)
    today = now.astimezone(TZ).date()
    return week_of(today - timedelta(days=7))


def local_date(dt: datetime | None) -> str:
    """YYYY-MM-DD of an aware datetime in Amsterdam time ('' for None)."""
    if dt is None:
        return ""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(TZ).date().isoformat()
