"""Due-ness from schedules: tolerance against cron drift, daylight saving, crontab weekdays."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from listener.schedules import TZ, Schedule, crontab_dow

UTC = timezone.utc


def ams(*args: int, fold: int = 0) -> datetime:
    """An Amsterdam wall-clock time as an aware UTC datetime."""
    return datetime(*args, tzinfo=TZ, fold=fold).astimezone(UTC)


def fires(expr: str, after: datetime, until: datetime) -> list[datetime]:
    sched, out, t = Schedule.parse(expr), [], after
    while True:
        t = sched.next_fire(t)
        if t is None or t > until:
            return out
        out.append(t)


def test_interval_due_within_tolerance_so_a_15_minute_cron_does_not_drift() -> None:
    hourly = Schedule.parse("1h")
    last = ams(2026, 5, 4, 10, 0, 3)
    assert hourly.tolerance() == timedelta(minutes=2)
    assert hourly.is_due(last, ams(2026, 5, 4, 11, 0, 0))  # 3 s short of an hour: still this slot
    assert not hourly.is_due(last, ams(2026, 5, 4, 10, 45, 0))
    # A whole day of cron ticks every 15 minutes, each run starting a few seconds late.
    runs, last = [], None
    for i in range(4 * 24):
        tick = ams(2026, 5, 4, 0, 0) + timedelta(minutes=15 * i, seconds=3 + i % 5)
        if hourly.is_due(last, tick):
            runs.append(tick)
            last = tick
    assert len(runs) == 24 and all(r.astimezone(TZ).minute == 0 for r in runs)


def test_tolerance_is_small_for_short_intervals() -> None:
    five = Schedule.parse("5m")
    assert five.tolerance() == timedelta(seconds=15)
    assert not five.is_due(ams(2026, 5, 4, 10, 0), ams(2026, 5, 4, 10, 4, 30))
    assert five.is_due(ams(2026, 5, 4, 10, 0), ams(2026, 5, 4, 10, 4, 46))


def test_a_cron_run_started_just_early_covers_its_slot() -> None:
    hourly = Schedule.parse("0 * * * *")
    assert hourly.is_due(ams(2026, 5, 4, 10, 0, 3), ams(2026, 5, 4, 11, 0, 0))
    assert hourly.is_due(ams(2026, 5, 4, 10, 0, 3), ams(2026, 5, 4, 10, 59, 0))  # within 2 min
    # The clock of the 11:00 cron ran a second fast: that run still counts for 11:00.
    assert not hourly.is_due(ams(2026, 5, 4, 10, 59, 59), ams(2026, 5, 4, 11, 15))
    assert hourly.is_due(ams(2026, 5, 4, 10, 59, 59), ams(2026, 5, 4, 12, 0))


def test_never_run_is_due() -> None:
    assert Schedule.parse("6h").is_due(None, ams(2026, 5, 4, 10, 0))
    assert Schedule.parse("0 6 * * 1").is_due(None, ams(2026, 5, 5, 10, 0))


def test_spring_forward_cron_at_0230_runs_once_at_0330() -> None:
    # 2026-03-29 is the last Sunday of March: 02:00 CET becomes 03:00 CEST, 02:30 never happens.
    got = fires("30 2 * * *", ams(2026, 3, 28, 12, 0), ams(2026, 3, 31, 12, 0))
    assert [t.astimezone(TZ).strftime("%m-%d %H:%M %Z") for t in got] == [
        "03-29 03:30 CEST", "03-30 02:30 CEST", "03-31 02:30 CEST"]
    sched = Schedule.parse("30 2 * * *")
    last = ams(2026, 3, 28, 2, 30)
    assert not sched.is_due(last, ams(2026, 3, 29, 3, 15))
    assert sched.is_due(last, ams(2026, 3, 29, 3, 30))
    assert not sched.is_due(ams(2026, 3, 29, 3, 30), ams(2026, 3, 29, 23, 0))


def test_fall_back_cron_at_0230_runs_once_not_twice() -> None:
    # 2026-10-25 is the last Sunday of October: 02:00–03:00 happens twice.
    got = fires("30 2 * * *", ams(2026, 10, 24, 12, 0), ams(2026, 10, 26, 12, 0))
    assert got == [ams(2026, 10, 25, 2, 30, fold=0), ams(2026, 10, 26, 2, 30)]
    sched = Schedule.parse("30 2 * * *")
    first = ams(2026, 10, 25, 2, 30, fold=0)
    for now in (ams(2026, 10, 25, 2, 31, fold=1), ams(2026, 10, 25, 2, 45, fold=1), ams(2026, 10, 25, 9, 0)):
        assert not sched.is_due(first, now)


def test_hourly_cron_runs_every_real_hour_across_both_changes() -> None:
    spring = fires("0 * * * *", ams(2026, 3, 28, 23, 30), ams(2026, 3, 29, 23, 30))
    autumn = fires("0 * * * *", ams(2026, 10, 24, 23, 30), ams(2026, 10, 25, 23, 30))
    assert len(spring) == 23 and len(autumn) == 25  # the day is 23 and 25 hours long
    for seq in (spring, autumn):
        assert all(b - a == timedelta(hours=1) for a, b in zip(seq, seq[1:]))


@pytest.mark.parametrize("before,after", [
    ((2026, 3, 23, 6, 0), (2026, 3, 30, 6, 0)),    # CET → CEST
    ((2026, 10, 19, 6, 0), (2026, 10, 26, 6, 0)),  # CEST → CET
])
def test_weekly_monday_0600_on_both_sides_of_dst(before: tuple, after: tuple) -> None:
    weekly = Schedule.parse("0 6 * * 1")
    got = fires("0 6 * * 1", ams(*before) - timedelta(hours=1), ams(*after) + timedelta(hours=1))
    assert got == [ams(*before), ams(*after)]
    assert all(t.astimezone(TZ).strftime("%a %H:%M") == "Mon 06:00" for t in got)
    assert (got[1] - got[0]) in (timedelta(days=7, hours=-1), timedelta(days=7, hours=1))
    assert weekly.next_due(ams(*before), ams(*before)) == ams(*after)
    assert not weekly.is_due(ams(*before), ams(*after) - timedelta(minutes=5))
    assert weekly.is_due(ams(*before), ams(*after))


def test_interval_is_real_time_across_dst() -> None:
    daily = Schedule.parse("1d")
    last = ams(2026, 3, 28, 12, 0)
    assert daily.next_due(last, last) == last + timedelta(hours=24)
    assert daily.next_due(last, last).astimezone(TZ).hour == 13  # the clocks moved, time did not


def test_crontab_weekday_numbers_mean_what_cron_means() -> None:
    # APScheduler 3.x alone would read "1" as Tuesday.
    assert crontab_dow("1-5") == "mon,tue,wed,thu,fri"
    assert crontab_dow("0") == crontab_dow("7") == "sun"
    assert crontab_dow("*/2") == "sun,tue,thu,sat"
    assert crontab_dow("mon-fri") == "mon-fri"
    workdays = fires("0 9 * * 1-5", ams(2026, 5, 1, 12, 0), ams(2026, 5, 9, 0, 0))  # Fri 1 May … Sat 9 May
    assert [t.astimezone(TZ).strftime("%a") for t in workdays] == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    with pytest.raises(ValueError):
        Schedule.parse("0 9 * * 8")


def test_monthly_cron_does_not_skip_april() -> None:
    # APScheduler 3.x's own DST arithmetic jumps from 1 March to 1 May here.
    got = fires("0 0 1 * *", ams(2026, 2, 15, 0, 0), ams(2026, 5, 15, 0, 0))
    assert [t.astimezone(TZ).strftime("%m-%d %H:%M") for t in got] == ["03-01 00:00", "04-01 00:00", "05-01 00:00"]


@pytest.mark.parametrize("expr,nominal,longest", [
    ("30m", timedelta(minutes=30), timedelta(minutes=30)),
    ("0 */6 * * *", timedelta(hours=6), timedelta(hours=6)),
    ("0 8,20 * * *", timedelta(hours=12), timedelta(hours=12)),
    ("0 9 * * 1-5", timedelta(days=1), timedelta(days=3)),
    ("0 6 * * 1", timedelta(days=7), timedelta(days=7)),
])
def test_intervals_of_a_schedule(expr: str, nominal: timedelta, longest: timedelta) -> None:
    sched = Schedule.parse(expr)
    assert sched.nominal_interval() == nominal
    assert sched.longest_interval() == longest
