"""Source schedules: an interval ("30m", "6h", "1d") or a cron expression, in Europe/Amsterdam."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Europe/Amsterdam")
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
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger.from_crontab(expr, timezone=TZ)

    def trigger(self):  # noqa: ANN201 - APScheduler trigger
        """An APScheduler 3.x trigger for this schedule, in Europe/Amsterdam time."""
        if self.cron:
            return self._cron_trigger(self.cron)
        from apscheduler.triggers.interval import IntervalTrigger

        return IntervalTrigger(seconds=int(self.interval.total_seconds()), timezone=TZ)

    def nominal_interval(self) -> timedelta:
        """The typical gap between two runs (for health checks: 'no success for 3 intervals')."""
        if self.interval:
            return self.interval
        trig = self._cron_trigger(self.cron)
        t0 = datetime(2026, 1, 5, 12, 0, tzinfo=TZ)
        first = trig.get_next_fire_time(None, t0)
        second = trig.get_next_fire_time(first, first + timedelta(seconds=1))
        return (second - first) if first and second else timedelta(days=1)

    def next_due(self, last_run: datetime | None, now: datetime) -> datetime:
        """When the source is next due, given its last run start (UTC-aware) and now."""
        if last_run is None:
            return now
        if self.interval:
            return last_run + self.interval
        trig = self._cron_trigger(self.cron)
        nxt = trig.get_next_fire_time(None, last_run.astimezone(TZ) + timedelta(seconds=1))
        return nxt.astimezone(timezone.utc) if nxt else now + timedelta(days=365)

    def is_due(self, last_run: datetime | None, now: datetime) -> bool:
        """True when a run started at ``last_run`` is followed by a due moment at or before now."""
        return self.next_due(last_run, now) <= now
