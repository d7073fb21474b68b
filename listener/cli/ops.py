"""Operations commands: schedule (the daemon), status (health), runs (history)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from pathlib import Path

import click

from listener.cli.app import Ctx, sources_path
from listener.cli.commands_core import load_tagger_or_none, open_db
from listener.errors import InputError


def _local(dt: datetime | None) -> str:
    if dt is None:
        return "-"
    from listener.schedules import TZ

    return dt.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


@click.command("schedule")
@click.option("--reports-dir", default="reports", show_default=True, metavar="DIR",
              help="Where the weekly report (Monday 06:00) is written.")
@click.pass_obj
def schedule_cmd(ctx: Ctx, reports_dir: str) -> None:
    """Run the scheduler in the foreground (for systemd): every source on its own schedule,
    the weekly report on Monday 06:00 and the retention purge daily (Europe/Amsterdam).

    sources.yaml is read and validated once at start: restart to apply changes. SIGTERM or
    Ctrl-C finishes the batch in hand, commits and exits 0. Logs at info level unless -v
    asks for more; use --log-format json for a log collector.

    \b
    Example:
      listener --sources /etc/krimp-listener/sources.yaml --log-format json schedule
    """
    from listener.config import load_config
    from listener.scheduling import Daemon, build_scheduler, serve

    root = logging.getLogger()
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)  # a daemon says what it does
    if root.level > logging.DEBUG:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    cfg = load_config(sources_path(ctx))
    _, factory = open_db(ctx)
    tagger = load_tagger_or_none(ctx)
    out = Path(reports_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--reports-dir {reports_dir}: cannot create: {exc.strerror or exc}") from None
    daemon = Daemon(cfg, factory, tagger, out)
    serve(daemon, build_scheduler(daemon))


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per source instead of a table.")
@click.pass_obj
def status_cmd(ctx: Ctx, as_json: bool) -> None:
    """Show per source: last run, last success, next due time, new posts (last run and
    7 days) and last error.

    Exit code 1 when an enabled source has had no successful run for longer than three of
    its intervals (for monitoring), 0 otherwise. Times are Europe/Amsterdam.

    \b
    Example:
      listener status || echo "krimp-listener needs attention"
    """
    from listener.config import load_config
    from listener.status import health_exit_code, source_health
    from listener.store.db import session_scope

    cfg = load_config(sources_path(ctx))
    _, factory = open_db(ctx)
    with session_scope(factory) as s:
        rows = source_health(s, cfg)
    code = health_exit_code(rows)
    if as_json:
        for r in rows:
            click.echo(json.dumps(r.to_dict(), ensure_ascii=False))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="Sources")
        for col in ("source", "health", "last run", "status", "last success", "next due", "new", "7 days", "last error"):
            table.add_column(col, justify="right" if col in ("new", "7 days") else "left")
        for r in rows:
            health = "disabled" if not r.enabled else ("OK" if r.healthy else "ATTENTION")
            status = r.last_status or "-"
            if r.leased_by:
                status += " (running)"
            table.add_row(r.source_id, health, _local(r.last_run_at), status, _local(r.last_success_at),
                          _local(r.next_due_at), "-" if r.new_last_run is None else str(r.new_last_run),
                          str(r.new_7d), (r.problem or r.last_error or "")[:70])
        Console(width=160).print(table)
        unwell = [r.source_id for r in rows if r.enabled and not r.healthy]
        click.echo(f"{len(unwell)} of {sum(r.enabled for r in rows)} enabled sources need attention: "
                   f"{', '.join(unwell)}" if unwell else "All enabled sources are healthy.")
    sys.exit(code)


@click.command("runs")
@click.option("--source", "source_id", metavar="ID", help="Only this source.")
@click.option("--last", default=20, show_default=True, type=click.IntRange(1, 100_000), help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run instead of a table.")
@click.pass_obj
def runs_cmd(ctx: Ctx, source_id: str | None, last: int, as_json: bool) -> None:
    """List the run history, newest first: when, how long, status, counts and error.

    \b
    Examples:
      listener runs --last 50
      listener runs --source rtv-noord --last 10
    """
    from listener.status import run_history, run_to_dict
    from listener.store.db import session_scope

    _, factory = open_db(ctx)
    with session_scope(factory) as s:
        runs = [run_to_dict(r) for r in run_history(s, source_id, last)]
    if as_json:
        for r in runs:
            click.echo(json.dumps(r, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Runs")
    for col in ("id", "source", "started", "s", "status", "fetched", "new", "seen", "error", "by"):
        table.add_column(col, justify="right" if col in ("id", "s", "fetched", "new", "seen") else "left")
    for r in runs:
        started = datetime.fromisoformat(r["started_at"]) if r["started_at"] else None
        dur = "-" if r["duration_s"] is None else f"{r['duration_s']:.1f}"
        table.add_row(str(r["id"]), r["source_id"], _local(started), dur, r["status"], str(r["fetched"]),
                      str(r["new"]), str(r["duplicate"]), (r["error"] or "")[:60], (r["owner"] or "")[:30])
    Console(width=160).print(table)
    if not runs:
        click.echo("No runs recorded yet." if not source_id else f"No runs recorded for '{source_id}'.")


COMMANDS = [schedule_cmd, status_cmd, runs_cmd]
