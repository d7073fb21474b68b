"""The foreground daemon (`listener schedule`): APScheduler 3.x jobs, one per source, plus the
weekly report and the daily retention purge. Cron users run `listener run --once` instead.

Every job goes through the same run loop and leases as `listener run --once`, so a daemon, a
manual run and other hosts on one PostgreSQL never collect a source twice at the same moment.
SIGTERM/SIGINT stop the collectors after the item in hand; what was fetched is committed,
every run row is closed and the process exits 0.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from sqlalchemy.orm import Session, sessionmaker

from listener.config import Config, SourceBase
from listener.pipeline import Pipeline, run_owner
from listener.schedules import TZ, Schedule
from listener.store import queries
from listener.store.db import session_scope

log = logging.getLogger(__name__)

WEEKLY_REPORT = Schedule.parse("0 6 * * 1")  # Monday 06:00 Europe/Amsterdam
PURGE = Schedule.parse("15 4 * * *")  # daily, outside the 02:00–03:00 DST hours
CONFIG_CHECK_S = 300


def _trigger_base():  # noqa: ANN202 - imported lazily so `listener --help` stays fast
    from apscheduler.triggers.base import BaseTrigger

    return BaseTrigger


class ScheduleTrigger(_trigger_base()):  # type: ignore[misc]
    """An APScheduler trigger firing at a cron ``Schedule``'s moments (DST-correct, crontab weekdays)."""

    def __init__(self, schedule: Schedule, jitter: int | None = None) -> None:
        if not schedule.cron:
            raise ValueError("ScheduleTrigger needs a cron schedule")
        self.schedule = schedule
        self.jitter = jitter

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        after = previous_fire_time if previous_fire_time else now - timedelta(microseconds=1)
        return self._apply_jitter(self.schedule.next_fire(after), self.jitter, now)

    def __str__(self) -> str:
        return f"cron[{self.schedule.cron}, Europe/Amsterdam]"


def trigger_for(schedule: Schedule, start: datetime | None = None, jitter: int | None = None) -> Any:
    """The APScheduler trigger of a schedule; an interval starts at ``start`` (default now)."""
    if schedule.cron:
        return ScheduleTrigger(schedule, jitter)
    from apscheduler.triggers.interval import IntervalTrigger

    return IntervalTrigger(seconds=int(schedule.interval.total_seconds()), start_date=start,
                           timezone=TZ, jitter=jitter)


def jitter_s(schedule: Schedule) -> int:
    """Spread runs a little (never more than half the due-ness tolerance, so no slot is lost)."""
    return int(min(60.0, schedule.tolerance().total_seconds() / 2))


def misfire_grace_s(schedule: Schedule) -> int:
    """How late a job may still start (half its interval, at most an hour)."""
    return int(max(60.0, min(3600.0, schedule.nominal_interval().total_seconds() / 2)))


# --- job functions ------------------------------------------------------------------------


def weekly_report_job(factory: sessionmaker[Session], reports_dir: Path) -> list[Path]:
    """Write last week's report into ``reports_dir/<week>`` (e.g. reports/2026-W47)."""
    from listener.reports.weekly import write_weekly_report
    from listener.reports.weeks import last_complete_week

    week = last_complete_week()
    paths = write_weekly_report(factory, week=week, out_dir=Path(reports_dir) / week.label)
    log.info("weekly report %s written: %s", week.label, ", ".join(p.name for p in paths))
    return paths


def purge_job(factory: sessionmaker[Session], config: Config) -> Any:
    """Delete post text past its retention (listener.retention.purge)."""
    from listener.retention import purge

    result = purge(factory, config)
    log.info("retention purge done: %s", result)
    return result


class _SerialTagger:
    """Lets jobs in several threads share one classifier: one batch at a time."""

    def __init__(self, tagger: Any) -> None:
        self._tagger = tagger
        self.version = tagger.version
        self._lock = threading.Lock()

    def classify_many(self, texts: Iterable[str], *args: Any, **kwargs: Any) -> list[Any]:
        with self._lock:
            return list(self._tagger.classify_many(list(texts), *args, **kwargs))


@dataclass
class Daemon:
    """What the scheduled jobs share: configuration, store, classifier and the stop signal."""

    config: Config
    factory: sessionmaker[Session]
    tagger: Any = None
    reports_dir: Path = Path("reports")
    pipeline_factory: Callable[..., Pipeline] = Pipeline
    stopping: threading.Event = field(default_factory=threading.Event)
    _active: set[Pipeline] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _config_digest: str = ""

    def __post_init__(self) -> None:
        if self.tagger is not None and not isinstance(self.tagger, _SerialTagger):
            self.tagger = _SerialTagger(self.tagger)
        self._config_digest = _digest(self.config.path)

    def collect(self, source_id: str) -> None:
        """One source's job: collect it if it is due and not leased elsewhere."""
        if self.stopping.is_set():
            return
        pipe = self.pipeline_factory(self.config, self.factory, self.tagger, owner=f"{run_owner()}/{source_id}")
        with self._lock:
            self._active.add(pipe)
            if self.stopping.is_set():
                pipe.stop.set()
        try:
            summary = pipe.run([source_id], if_due=True)
        finally:
            with self._lock:
                self._active.discard(pipe)
        if summary.not_due:
            log.info("source '%s': not due yet (another run collected it)", source_id, extra={"source_id": source_id})

    def weekly_report(self) -> None:
        if not self.stopping.is_set():
            weekly_report_job(self.factory, self.reports_dir)

    def purge(self) -> None:
        if not self.stopping.is_set():
            purge_job(self.factory, self.config)

    def check_config(self) -> None:
        """Warn (once per change) that sources.yaml changed: it is read only at start."""
        digest = _digest(self.config.path)
        if digest != self._config_digest:
            self._config_digest = digest
            log.warning("%s changed; restart the scheduler to apply it (e.g. systemctl restart krimp-listener)",
                        self.config.path)

    def request_stop(self, signum: int | None = None) -> None:
        """Finish the batch in hand, commit and stop (safe to call from a signal handler)."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        with self._lock:
            for pipe in self._active:
                pipe.stop.set()


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def first_runs(config: Config, factory: sessionmaker[Session], now: datetime) -> dict[str, datetime]:
    """When each enabled, live source is next due, from its stored last attempt (now if overdue)."""
    out: dict[str, datetime] = {}
    with session_scope(factory) as s:
        queries.sync_sources(s, config.sources)
        for src in config.sources:
            if not src.enabled:
                continue
            state = queries.get_state(s, src.id)
            if state.dead:
                log.warning("source '%s' is marked dead (%s); not scheduled. Fix its URL and restart",
                            src.id, state.last_error, extra={"source_id": src.id})
                continue
            sched = src.parsed_schedule
            due = sched.is_due(state.last_attempt_at, now)
            out[src.id] = now if due else sched.next_due(state.last_attempt_at, now)
    return out


def build_scheduler(daemon: Daemon, now: datetime | None = None) -> Any:
    """A BackgroundScheduler with one job per source, the weekly report, the purge and a config check."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    now = now or datetime.now(timezone.utc)
    cfg = daemon.config
    scheduler = BackgroundScheduler(
        timezone=TZ,
        executors={"default": ThreadPoolExecutor(cfg.settings.concurrency),
                   "maintenance": ThreadPoolExecutor(1)},
        job_defaults={"max_instances": 1, "coalesce": True},
    )
    starts = first_runs(cfg, daemon.factory, now)
    by_id: dict[str, SourceBase] = {s.id: s for s in cfg.sources}
    for i, (sid, start) in enumerate(sorted(starts.items(), key=lambda kv: kv[1])):
        sched = by_id[sid].parsed_schedule
        # Sources due at start are spread over a few seconds rather than all fired at once.
        first = max(start, now) + timedelta(seconds=0.2 * i if start <= now else 0)
        scheduler.add_job(daemon.collect, trigger_for(sched, first, jitter_s(sched)), args=[sid],
                          id=f"collect:{sid}", name=f"collect {sid}", next_run_time=first,
                          misfire_grace_time=misfire_grace_s(sched), replace_existing=True)
    scheduler.add_job(daemon.weekly_report, ScheduleTrigger(WEEKLY_REPORT), id="weekly-report",
                      name="weekly report", executor="maintenance", misfire_grace_time=6 * 3600)
    scheduler.add_job(daemon.purge, ScheduleTrigger(PURGE), id="purge", name="retention purge",
                      executor="maintenance", misfire_grace_time=12 * 3600)
    scheduler.add_job(daemon.check_config, "interval", seconds=CONFIG_CHECK_S, id="config-check",
                      name="sources.yaml check", executor="maintenance")
    return scheduler


def serve(daemon: Daemon, scheduler: Any, install_signals: bool = True) -> None:
    """Run the scheduler until SIGTERM/SIGINT, then let running jobs finish their batch and return."""
    if install_signals:
        def handler(signum: int, _frame: Any) -> None:
            log.warning("%s received: finishing the batch in hand, then stopping", signal.Signals(signum).name)
            daemon.request_stop(signum)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
    scheduler.start()
    n = sum(1 for j in scheduler.get_jobs() if j.id.startswith("collect:"))
    log.info("scheduler started: %d sources scheduled; weekly report Monday 06:00, purge daily 04:15 "
             "(Europe/Amsterdam)", n)
    while not daemon.stopping.wait(1.0):
        pass
    scheduler.shutdown(wait=True)
    log.info("scheduler stopped cleanly")
