"""Core commands: db, sources, run, export, demo."""

from __future__ import annotations

import contextlib
import csv
import json
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import click

from listener.cli.app import Ctx, sources_path
from listener.errors import ConfigError, InputError


def parse_date(value: str | None, option: str) -> datetime | None:
    """A YYYY-MM-DD (or ISO 8601) option value as an aware UTC datetime."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option}: not a date: {value!r} (use YYYY-MM-DD)") from None
    if dt.tzinfo is None:
        from listener.schedules import TZ

        dt = dt.replace(tzinfo=TZ)
    return dt.astimezone(timezone.utc)


def open_db(ctx: Ctx, create: bool = True):  # noqa: ANN201
    from listener.store.db import open_store

    return open_store(ctx.db_url, create=create)


def load_tagger_or_none(ctx: Ctx) -> Any:
    """The classifier, or None (posts stored untagged) when it is switched off or absent."""
    from listener.tagging import classifier_switched_off, load_tagger

    if classifier_switched_off():
        click.echo("note: classifier switched off (LISTENER_CLASSIFIER=off); posts are stored untagged", err=True)
        return None
    try:
        return load_tagger(ctx.keywords_path)
    except ImportError as exc:
        click.echo(f"note: classifier not available ({exc}); posts are stored untagged", err=True)
        return None


# --- db ------------------------------------------------------------------------------------


@click.group("db")
def db_group() -> None:
    """Create, migrate and inspect the database.

    \b
    Examples:
      listener db upgrade
      listener --db postgresql://postgres@127.0.0.1/listener db upgrade
    """


@db_group.command("upgrade")
@click.argument("revision", default="head")
@click.pass_obj
def db_upgrade(ctx: Ctx, revision: str) -> None:
    """Create the schema or migrate it to REVISION (default: head).

    \b
    Example:
      listener db upgrade
    """
    from listener.store.db import make_engine, safe_url, upgrade

    engine = make_engine(ctx.db_url)
    before, after = upgrade(engine, revision)
    click.echo(f"{safe_url(str(engine.url))}: {before or 'empty'} → {after}")


@db_group.command("downgrade")
@click.argument("revision")
@click.pass_obj
def db_downgrade(ctx: Ctx, revision: str) -> None:
    """Migrate the schema down to REVISION ('base' removes every table: all data is lost).

    \b
    Example:
      listener db downgrade base
    """
    from listener.store.db import downgrade, make_engine, safe_url

    engine = make_engine(ctx.db_url)
    before, after = downgrade(engine, revision)
    click.echo(f"{safe_url(str(engine.url))}: {before} → {after or 'base'}")


@db_group.command("current")
@click.pass_obj
def db_current(ctx: Ctx) -> None:
    """Show the schema revision of the database and of this version.

    \b
    Example:
      listener db current
    """
    from listener.store.db import current_revision, head_revision, make_engine, safe_url

    engine = make_engine(ctx.db_url)
    cur, head = current_revision(engine), head_revision()
    state = "up to date" if cur == head else "behind: run `listener db upgrade`"
    click.echo(f"{safe_url(str(engine.url))}: at {cur or 'empty'}, code needs {head} ({state})")


# --- sources -------------------------------------------------------------------------------


@click.group("sources")
def sources_group() -> None:
    """Inspect and check sources.yaml.

    \b
    Examples:
      listener sources list
      listener --sources examples/sources.yaml sources check
    """


@sources_group.command("list")
@click.pass_obj
def sources_list(ctx: Ctx) -> None:
    """List the configured sources with kind, schedule and target.

    \b
    Example:
      listener sources list
    """
    from rich.console import Console
    from rich.table import Table

    from listener.config import load_config

    cfg = load_config(sources_path(ctx))
    table = Table(title=f"{cfg.path} — {len(cfg.sources)} sources")
    for col in ("id", "kind", "schedule", "enabled", "target"):
        table.add_column(col)
    for s in cfg.sources:
        target = getattr(s, "url", None) or ", ".join(
            str(v) for k in ("subreddits", "hashtags", "keywords", "accounts", "instance")
            if (v := getattr(s, k, None))
        )
        table.add_row(s.id, s.kind, s.schedule, "yes" if s.enabled else "no", str(target)[:70])
    Console(width=120).print(table)


@sources_group.command("check")
@click.option("--online", is_flag=True, help="Also fetch every source once (nothing is stored).")
@click.pass_obj
def sources_check(ctx: Ctx, online: bool) -> None:
    """Validate sources.yaml (exit 2 with a one-line error when invalid).

    \b
    Examples:
      listener sources check
      listener --sources /etc/krimp-listener/sources.yaml sources check
    """
    from listener.config import load_config

    cfg = load_config(sources_path(ctx))
    kinds: dict[str, int] = {}
    for s in cfg.sources:
        kinds[s.kind] = kinds.get(s.kind, 0) + 1
    detail = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    click.echo(f"{cfg.path}: OK, {len(cfg.sources)} sources ({detail})")
    if online:
        from listener.health import check_online

        sys.exit(check_online(cfg))


# --- run -----------------------------------------------------------------------------------


def print_summary(summary: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Run summary")
    for col in ("source", "status", "fetched", "new", "seen", "skipped", "irrelevant", "s", "error"):
        table.add_column(col, justify="right" if col in ("fetched", "new", "seen", "skipped", "irrelevant", "s") else "left")
    for r in sorted(summary.results, key=lambda r: r.source_id):
        table.add_row(r.source_id, r.status, str(r.fetched), str(r.new), str(r.duplicate), str(r.skipped),
                      str(r.irrelevant), f"{r.duration_s:.1f}", (r.error or "")[:80])
    Console(width=140, stderr=False).print(table)
    if summary.not_due:
        click.echo(f"{len(summary.not_due)} sources not due yet: {', '.join(summary.not_due[:10])}"
                   + (" …" if len(summary.not_due) > 10 else ""))


@click.command("run")
@click.option("--once", is_flag=True, required=True, help="Run once and exit (for cron). Required.")
@click.option("--source", "source_ids", multiple=True, metavar="ID", help="Only this source (repeatable); ignores its schedule.")
@click.option("--all", "all_sources", is_flag=True, help="Run every enabled source, due or not.")
@click.pass_obj
def run_cmd(ctx: Ctx, once: bool, source_ids: tuple[str, ...], all_sources: bool) -> None:
    """Collect every due source once: fetch, tag, store. For cron.

    Exit code 0 when every source succeeded, 3 when some failed (the rest are stored),
    2 on a configuration error. After a run that stored posts, the weekly counts of the
    last twelve weeks that ended more than a day ago and have none yet are stored, and those
    of the last two weeks raised when posts of theirs came in late, so that the weekly report
    does not have to count them.

    \b
    Examples:
      listener run --once
      listener run --once --source rtv-noord
      */15 * * * * cd /srv/krimp && .venv/bin/listener run --once   # crontab
    """
    from listener.config import load_config
    from listener.pipeline import Pipeline

    cfg = load_config(sources_path(ctx))
    for sid in source_ids:
        cfg.source(sid)
    _, factory = open_db(ctx)
    tagger = load_tagger_or_none(ctx)
    pipe = Pipeline(cfg, factory, tagger)
    with _stop_on_signals(pipe.stop):
        summary = pipe.run(source_ids or None, only_due=not all_sources)
    print_summary(summary)
    sys.exit(summary.exit_code)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT: finish the batch in hand, commit, stop (a second signal acts as usual)."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, _frame: Any) -> None:
        click.echo(f"listener: {signal.Signals(signum).name} received; finishing the batch in hand", err=True)
        stop.set()
        for sig, old in previous.items():
            signal.signal(sig, old)

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# --- export --------------------------------------------------------------------------------

EXPORT_CSV_FIELDS = ["id", "platform", "source", "external_id", "url", "created_at", "language", "text",
                     "themes", "signals", "municipalities", "regions", "evidence", "classifier_version"]


@click.command("export")
@click.option("--since", metavar="DATE", help="Only posts created on or after DATE (YYYY-MM-DD).")
@click.option("--until", metavar="DATE", help="Only posts created before DATE (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("-o", "--output", default="-", metavar="FILE", help="Output file; '-' for stdout.")
@click.pass_obj
def export_cmd(ctx: Ctx, since: str | None, until: str | None, fmt: str, output: str) -> None:
    """Export stored posts with their tags (JSONL in the shape of `listener classify`).

    \b
    Examples:
      listener export --since 2026-11-01 -o november.jsonl
      listener export --format csv -o posts.csv
    """
    from listener.audit import record
    from listener.store.db import session_scope
    from listener.store.queries import iter_posts, post_to_dict

    s_dt, u_dt = parse_date(since, "--since"), parse_date(until, "--until")
    _, factory = open_db(ctx)
    out = sys.stdout if output == "-" else _open_out(output)
    n = 0
    try:
        writer = csv.DictWriter(out, fieldnames=EXPORT_CSV_FIELDS, extrasaction="ignore") if fmt == "csv" else None
        if writer:
            writer.writeheader()
        with session_scope(factory) as s:
            for post, tags in iter_posts(s, s_dt, u_dt):
                d = post_to_dict(post, tags)
                d.pop("author_key", None)
                if writer:
                    writer.writerow({k: _csv_cell(d.get(k)) for k in EXPORT_CSV_FIELDS})
                else:
                    out.write(json.dumps(d, ensure_ascii=False) + "\n")
                n += 1
    finally:
        if out is not sys.stdout:
            out.close()
    with session_scope(factory) as s:
        record(s, "export", {"since": since, "until": until, "format": fmt, "output": output}, n)
    if output != "-":
        click.echo(f"{n} posts written to {output}", err=True)


def _csv_cell(v: Any) -> str:
    from listener.reports.excel import neutralise

    if isinstance(v, (list, dict)):
        v = json.dumps(v, ensure_ascii=False)
    return neutralise("" if v is None else str(v))


def _open_out(path: str):  # noqa: ANN202
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None


@click.command("reclassify")
@click.option("--since", metavar="DATE", help="Only posts created on or after DATE (YYYY-MM-DD).")
@click.option("--until", metavar="DATE", help="Only posts created before DATE.")
@click.option("--all", "all_posts", is_flag=True, help="Also posts already tagged by this classifier version.")
@click.option("--processes", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes for large histories.")
@click.pass_obj
def reclassify_cmd(ctx: Ctx, since: str | None, until: str | None, all_posts: bool, processes: int) -> None:
    """Re-tag stored posts after keywords_nl.txt or the gazetteer changed.

    By default only posts tagged by another classifier version (or untagged) are re-tagged.
    Then the stored weekly counts of the ended weeks in which tags changed are counted again,
    so that a report compares like with like (a week retention has purged posts from keeps
    its counts, raised where the new tags give more).

    \b
    Examples:
      listener reclassify
      listener reclassify --since 2026-09-01 --processes 2
    """
    from listener.reclassify import reclassify
    from listener.tagging import load_tagger

    s_dt, u_dt = parse_date(since, "--since"), parse_date(until, "--until")
    _, factory = open_db(ctx)
    tagger = load_tagger(ctx.keywords_path)
    res = reclassify(factory, tagger, s_dt, u_dt, only_outdated=not all_posts, n_process=processes)
    click.echo(f"{res.examined} posts re-tagged with {res.version}: {res.changed} changed, "
               f"{res.now_irrelevant} now without a theme")
    if res.weeks_recounted:
        w = res.weeks_recounted
        click.echo(f"weekly counts counted again for {len(w)} week{'s' if len(w) > 1 else ''} "
                   f"({w[0]}{' .. ' + w[-1] if len(w) > 1 else ''})")


COMMANDS = [db_group, sources_group, run_cmd, export_cmd, reclassify_cmd]


# --- demo ----------------------------------------------------------------------------------


@click.command("demo")
@click.option("--out", "out_dir", default="demo", show_default=True, metavar="DIR",
              help="Where the demo database and its outputs go.")
@click.pass_obj
def demo_cmd(ctx: Ctx, out_dir: str) -> None:
    """Run the whole pipeline offline on the bundled sample feeds and write the results.

    Uses its own SQLite database in DIR (unless --db is given); running it again shows
    that posts already stored are recognised ('seen').

    \b
    Example:
      listener demo --out /tmp/krimp-demo
    """
    from listener.demo import run_demo

    tagger = load_tagger_or_none(ctx)
    res = run_demo(Path(out_dir), ctx.db_url, tagger)
    print_summary(res.summary)
    s = res.summary
    ok = sum(1 for r in s.results if r.status in ("ok", "not_modified"))
    click.echo(f"Sources read: {len(s.results)} ({ok} ok, {len(s.results) - ok} with problems)")
    click.echo(f"Posts: {sum(r.new for r in s.results)} new, {sum(r.duplicate for r in s.results)} seen before, "
               f"{sum(r.irrelevant for r in s.results)} irrelevant dropped, {sum(r.skipped for r in s.results)} "
               f"other language; {res.total_posts} in the database")
    if res.same_item_elsewhere:
        click.echo(f"Same item in two feeds: {res.same_item_elsewhere} (recognised by content hash, counted once in reports)")
    if res.per_theme:
        click.echo("Posts per theme: " + ", ".join(f"{t} {n}" for t, n in res.per_theme.items()))
    else:
        click.echo("Posts per theme: (untagged: classifier not available)")
    if res.report_week:
        click.echo(f"Weekly report {res.report_week} (the week of the newest sample post):")
    for p in res.outputs:
        click.echo(f"Written: {p}")


COMMANDS.append(demo_cmd)
