"""Source schedules: an interval ("30m", "6h", "1d") or a cron expression, in Europe/Amsterdam."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Europe/Amsterdam")
# A run that starts this much early still counts for its slot: a cron line firing every
# 15 minutes must not push an hourly source one slot later because the last run began at
# 10:00:03. The smaller of the two, so short intervals are not run twice as often.
MAX_TOLERANCE = timedelta(minutes=2)
TOLERANCE_FRACTION = 0.05
_INTERVAL = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a source is due. Exactly one of ``interval`` and ``cron`` is set."""

    text: str
    interval: timedelta | None = None
    cron: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Schedule":
        """Parse "30m" / "6h" / "1d" or a five-field cron expression; ValueError if neither."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("empty schedule")
        m = _INTERVAL.match(text)
        if m:
            n = int(m.group(1))
            if n <= 0:
                raise ValueError(f"interval must be positive: {text!r}")
            delta = timedelta(**{_UNITS[m.group(2).lower()]: n})
            if delta < timedelta(minutes=1):
                raise ValueError(f"interval shorter than one minute: {text!r}")
            return cls(text=text.strip(), interval=delta)
        fields = text.split()
        if len(fields) != 5:
            raise ValueError(f"not an interval like '30m'/'6h'/'1d' nor a 5-field cron expression: {text!r}")
        cls._cron_trigger(text)  # raises ValueError on a bad expression
        return cls(text=" ".join(fields), cron=" ".join(fields))

    @staticmethod
    def _cron_trigger(expr: str):  # noqa: ANN205 - APScheduler type
        return _cron_trigger(expr)

    @property
    def fixed_hours(self) -> bool:
        """True for a cron whose hour field names hours ("30 2 * * *"), not "*" or a step."""
        if not self.cron:
            return False
        hour = self.cron.split()[1]
        return "*" not in hour and "/" not in hour

    def trigger(self):  # noqa: ANN201 - APScheduler trigger
        """An APScheduler 3.x trigger for this schedule, in Europe/Amsterdam time (DST-correct)."""
        from listener.scheduling import trigger_for

        return trigger_for(self)

    def nominal_interval(self) -> timedelta:
        """The typical gap between two runs (for health checks: 'no success for 3 intervals')."""
        if self.interval:
            return self.interval
        gaps = _cron_gaps(self.cron)
        return gaps[len(gaps) // 2]

    def longest_interval(self) -> timedelta:
        """The longest gap between two runs ("0 9 * * 1-5": the weekend), for lenient health checks."""
        return self.interval or _cron_gaps(self.cron)[-1]

    def tolerance(self) -> timedelta:
        """How early a run may start and still count for its slot: min(2 min, 5 % of the interval)."""
        shortest = self.interval or _cron_gaps(self.cron)[0]
        return min(MAX_TOLERANCE, shortest * TOLERANCE_FRACTION)

    def next_fire(self, after: datetime) -> datetime | None:
        """The first cron moment strictly after ``after`` (UTC-aware), DST-correct; None for intervals.

        Cron fields are matched against Europe/Amsterdam wall-clock time, as cron does. A cron
        with fixed hours runs once per wall-clock time: "30 2 * * *" runs at 03:30 CEST on the
        spring-forward day (02:30 does not exist) and only at the first 02:30 on the fall-back
        day. Hourly or stepped crons ("0 * * * *", "*/15 …") also run in the repeated hour.
        """
        if not self.cron:
            return None
        after = after.astimezone(timezone.utc)
        trig = _wall_trigger(self.cron)
        # Start an hour back in wall time so the repeated fall-back hour is not jumped over.
        wall = after.astimezone(TZ).replace(tzinfo=None) - timedelta(hours=1)
        best: datetime | None = None
        for _ in range(2000):
            c = trig.get_next_fire_time(None, wall.replace(tzinfo=timezone.utc))
            if c is None:
                break
            c = c.replace(tzinfo=None)
            # A wall time is at most 2h ahead of UTC here: later candidates cannot win.
            if best is not None and c - timedelta(hours=2) > best.replace(tzinfo=None):
                break
            for inst in _instants(c, first_only=self.fixed_hours):
                if inst > after and (best is None or inst < best):
                    best = inst
            wall = c + timedelta(seconds=1)
        return best

    def next_due(self, last_run: datetime | None, now: datetime) -> datetime:
        """When the source is next due (its nominal time), given its last run start (UTC-aware) and now."""
        if last_run is None:
            return now
        last_run = last_run.astimezone(timezone.utc)
        if self.interval:
            return last_run + self.interval
        # A run that began a little before a cron moment covers that moment.
        nxt = self.next_fire(last_run + self.tolerance())
        return nxt if nxt else now + timedelta(days=365)

    def is_due(self, last_run: datetime | None, now: datetime) -> bool:
        """True when the next due moment after ``last_run`` is at or before now, within the tolerance.

        Example: interval 1h, last run 10:00:03, a cron tick at 11:00:00 → due.
        """
        return self.next_due(last_run, now) - self.tolerance() <= now


def _instants(wall: datetime, first_only: bool) -> list[datetime]:
    """The UTC instants of a naive Amsterdam wall time: one, two (fall-back) or shifted (spring gap)."""
    first = wall.replace(tzinfo=TZ, fold=0).astimezone(timezone.utc)
    second = wall.replace(tzinfo=TZ, fold=1).astimezone(timezone.utc)
    if first == second:
        return [first]
    if first.astimezone(TZ).replace(tzinfo=None) != wall:
        return [first]  # does not exist (spring gap): fold=0 moves it an hour later, like the clocks
    return [first] if first_only else [first, second]


_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab_dow(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday) as APScheduler 3.x names.

    APScheduler 3.x counts 0 as Monday, so "0 6 * * 1" given to it as is runs on Tuesday.
    Example: crontab_dow("1-5") == "mon,tue,wed,thu,fri".
    """
    if field == "*":
        return field
    days: list[int] = []
    for part in field.split(","):
        if any(ch.isalpha() for ch in part):
            return field  # names mean the same in both
        rng, _, step_s = part.partition("/")
        step = int(step_s) if step_s else 1
        if rng == "*":
            lo, hi = 0, 6
        elif "-" in rng:
            lo_s, hi_s = rng.split("-", 1)
            lo, hi = int(lo_s), int(hi_s)
        else:
            lo = int(rng)
            hi = 6 if step_s else lo
        if not (0 <= lo <= 7 and 0 <= hi <= 7 and lo <= hi and step > 0):
            raise ValueError(f"day of week out of range: {part!r}")
        days.extend(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_DOW_NAMES[d] for d in sorted(set(days)))


def _crontab(expr: str, tz):  # noqa: ANN001, ANN202 - APScheduler types
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, dow = expr.split()
    try:
        dow = crontab_dow(dow)
    except ValueError as exc:
        raise ValueError(f"{expr!r}: {exc}") from None
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=dow, timezone=tz)


@lru_cache(maxsize=256)
def _wall_trigger(expr: str):  # noqa: ANN202 - APScheduler type
    # Matched against naive wall-clock times dressed as UTC: UTC has no DST, so APScheduler's
    # own DST handling (which skips April for "0 0 1 * *" asked in March) never comes into it.
    return _crontab(expr, timezone.utc)


@lru_cache(maxsize=256)
def _cron_trigger(expr: str):  # noqa: ANN202 - APScheduler type
    return _crontab(expr, TZ)


@lru_cache(maxsize=256)
def _cron_gaps(expr: str) -> list[timedelta]:
    """Sorted wall-clock gaps between fire times over about a year, at most 200."""
    trig = _wall_trigger(expr)
    t = datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc)
    end = datetime(2027, 1, 5, tzinfo=timezone.utc)
    gaps: list[timedelta] = []
    prev = None
    while len(gaps) < 200:
        nxt = trig.get_next_fire_time(None, t)
        if nxt is None:
            break
        if prev is not None:
            gaps.append(nxt - prev)
        if nxt > end:
            break
        prev, t = nxt, nxt + timedelta(seconds=1)
    return sorted(gaps) or [timedelta(days=365)]
