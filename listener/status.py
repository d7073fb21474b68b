"""Health per source and the run history, for `listener status` and `listener runs`.

A source is unwell when it has had no successful run for longer than three of its intervals
(counted from when it first appeared in sources.yaml if it never succeeded); disabled sources
are ignored. `listener status` exits 1 when any source is unwell so monitoring can alarm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from listener.config import Config
from listener.errors import EXIT_ERROR, EXIT_OK
from listener.store.leases import held_by_others
from listener.store.models import Run, Source, SourceState

UNWELL_AFTER_INTERVALS = 3
RECENT = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """One line of `listener status`."""

    source_id: str
    kind: str
    enabled: bool
    schedule: str
    last_run_at: datetime | None
    last_status: str | None
    last_success_at: datetime | None
    next_due_at: datetime | None
    new_last_run: int | None
    new_7d: int
    last_error: str | None
    dead: bool
    leased_by: str | None  # another run is collecting it right now
    healthy: bool
    problem: str | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, datetime):
                d[k] = v.isoformat()
        return d


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=timezone.utc) if dt is not None and dt.tzinfo is None else dt


def source_health(session: Session, config: Config, now: datetime | None = None) -> list[SourceHealth]:
    """The health of every configured source, in sources.yaml order."""
    now = now or datetime.now(timezone.utc)
    states = {s.source_id: s for s in session.scalars(select(SourceState))}
    first_seen = dict(session.execute(select(Source.id, Source.first_seen_at)).all())
    latest = {r.source_id: r for r in session.scalars(
        select(Run).where(Run.id.in_(select(func.max(Run.id)).where(Run.status != "locked").group_by(Run.source_id))))}
    recent = dict(session.execute(
        select(Run.source_id, func.coalesce(func.sum(Run.new), 0))
        .where(Run.started_at >= now - RECENT).group_by(Run.source_id)).all())
    leases = held_by_others(session, owner=None, now=now)
    out = []
    for src in config.sources:
        sched = src.parsed_schedule
        state = states.get(src.id)
        run = latest.get(src.id)
        last_attempt = _aware(state.last_attempt_at) if state else None
        last_success = _aware(state.last_success_at) if state else None
        dead = bool(state and state.dead)
        next_due = None
        if src.enabled and not dead:
            next_due = max(sched.next_due(last_attempt, now), now) if last_attempt else now
        healthy, problem = True, None
        if src.enabled:
            since = last_success or _aware(first_seen.get(src.id)) or now
            limit = UNWELL_AFTER_INTERVALS * sched.longest_interval()
            if now - since > limit:
                healthy = False
                what = "no successful run" if last_success is None else "no success"
                problem = f"{what} for {_span(now - since)} (more than 3 × {sched.text})"
            if dead:
                problem = (problem + "; " if problem else "") + "marked dead"
        out.append(SourceHealth(
            source_id=src.id, kind=src.kind, enabled=src.enabled, schedule=sched.text,
            last_run_at=_aware(run.started_at) if run else None, last_status=run.status if run else None,
            last_success_at=last_success, next_due_at=next_due, new_last_run=run.new if run else None,
            new_7d=int(recent.get(src.id, 0) or 0), last_error=state.last_error if state else None,
            dead=dead, leased_by=leases.get(src.id, (None,))[0], healthy=healthy, problem=problem,
        ))
    return out


def health_exit_code(rows: list[SourceHealth]) -> int:
    """1 when an enabled source is unwell (for monitoring), else 0."""
    return EXIT_ERROR if any(r.enabled and not r.healthy for r in rows) else EXIT_OK


def run_history(session: Session, source_id: str | None = None, last: int = 20) -> list[Run]:
    """The last ``last`` runs, newest first, of one source or of all."""
    q = select(Run).order_by(Run.started_at.desc(), Run.id.desc()).limit(last)
    if source_id:
        q = q.where(Run.source_id == source_id)
    return list(session.scalars(q))


def run_to_dict(run: Run) -> dict[str, Any]:
    keys = ("id", "source_id", "started_at", "finished_at", "status", "fetched", "new", "duplicate",
            "skipped", "irrelevant", "warnings", "duration_s", "error", "owner")
    d = {k: getattr(run, k) for k in keys}
    for k in ("started_at", "finished_at"):
        d[k] = _aware(d[k]).isoformat() if d[k] else None
    return d


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"
