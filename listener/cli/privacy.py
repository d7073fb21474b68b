"""Privacy commands: purge (retention), forget (right to erasure), audit (who looked at what)."""

from __future__ import annotations

import json

import click

from listener.cli.app import Ctx, sources_path


def _open(ctx: Ctx):  # noqa: ANN202
    from listener.store.db import open_store

    return open_store(ctx.db_url)


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.pass_obj
def purge_cmd(ctx: Ctx, dry_run: bool) -> None:
    """Delete posts older than their source's retention_days (default 90); weekly counts are kept.

    Text, link and tags of a post go; the weekly aggregates of its week are made sure of first.
    Prints the posts deleted per source. The daemon runs this every night.

    \b
    Examples:
      listener purge --dry-run
      listener purge
    """
    from listener.config import load_config
    from listener.retention import purge

    cfg = load_config(sources_path(ctx))
    _, factory = _open(ctx)
    result = purge(factory, cfg, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for sid, n in sorted(result.deleted.items()):
        click.echo(f"{sid}: {verb} {n} posts older than {result.retention_days[sid]} days")
    click.echo(f"{verb} {result.total} posts ({result.tags} tags) in total"
               + (f"; aggregates kept for {len(result.weeks)} weeks" if result.weeks and not dry_run else ""))


@click.command("forget")
@click.option("--author", required=True, metavar="HANDLE",
              help="The author as on the platform: @naam@server (Mastodon), the DID (Bluesky), "
                   "the numeric user id (X), the user name (Reddit).")
@click.option("--platform", required=True, metavar="P", help="mastodon, bluesky, x, reddit, or an RSS source's platform.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.pass_obj
def forget_cmd(ctx: Ctx, author: str, platform: str, dry_run: bool) -> None:
    """Delete every stored post of one author (right to erasure, AVG art. 17).

    The audit log records that it happened and how many posts went, never who.

    \b
    Examples:
      listener forget --author @jan@dorp.social --platform mastodon
      listener forget --author did:plc:abc123 --platform bluesky --dry-run
    """
    from listener.errors import ConfigError
    from listener.retention import forget

    p = platform.strip().lower()
    a = author.strip()
    if not a.lstrip("@"):
        raise ConfigError("--author: is empty")
    if p == "bluesky" and not a.lower().startswith("did:"):
        click.echo("note: Bluesky posts are keyed by the author's DID (did:plc:…); a handle finds only "
                   "posts whose link names it", err=True)
    elif p == "x" and not a.lstrip("@").isdigit():
        click.echo("note: X posts are keyed by the numeric user id, not the @handle", err=True)
    elif p == "mastodon" and "@" not in a.lstrip("@"):
        click.echo("note: Mastodon authors are keyed as naam@server; give the server too", err=True)
    _, factory = _open(ctx)
    result = forget(factory, p, a, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for sid, n in sorted(result.deleted.items()):
        click.echo(f"{sid}: {verb} {n} posts")
    click.echo(f"{verb} {result.total} posts of this author ({result.tags} tags)")


@click.command("audit")
@click.option("--last", "last", type=click.IntRange(1, 100_000), default=20, show_default=True, metavar="N",
              help="Show the N most recent entries.")
@click.option("--command", "command", metavar="C", help="Only entries of this command (search, report, export, purge, forget).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.pass_obj
def audit_cmd(ctx: Ctx, last: int, command: str | None, as_json: bool) -> None:
    """List the audit log: when, which command, which filters, which OS user, how many rows.

    \b
    Examples:
      listener audit --last 50
      listener audit --command forget
    """
    from sqlalchemy import select

    from listener.schedules import TZ
    from listener.store.db import session_scope
    from listener.store.models import AuditEntry

    _, factory = _open(ctx)
    q = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(last)
    if command:
        q = q.where(AuditEntry.command == command.strip().lower())
    with session_scope(factory) as s:
        entries = list(s.scalars(q))
    for e in reversed(entries):
        row = {"at": e.at.astimezone(TZ).isoformat(timespec="seconds"), "command": e.command,
               "os_user": e.os_user, "rows": e.rows, "filters": e.filters or {}}
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            filters = json.dumps(row["filters"], ensure_ascii=False, sort_keys=True) if row["filters"] else "-"
            rows = "-" if e.rows is None else str(e.rows)
            click.echo(f"{row['at']}  {e.command:<8} {e.os_user or '?':<12} rows={rows:<6} {filters}")
    if not entries and not as_json:
        click.echo("no audit entries" + (f" for '{command}'" if command else ""), err=True)


COMMANDS = [purge_cmd, forget_cmd, audit_cmd]
