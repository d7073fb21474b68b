"""Commands for analysts: import, report, search."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import click

from listener.cli.app import Ctx
from listener.cli.commands_core import load_tagger_or_none, open_db, parse_date


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--platform", metavar="P", help="Platform for lines without a 'platform' field (default: import).")
@click.option("--source", "source_id", default="import", show_default=True, metavar="ID",
              help="Source id the posts are stored under (a source of kind 'import').")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), help="Default: from the file name, else sniffed.")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000), help="Posts per transaction.")
@click.option("--workers", type=click.IntRange(1, 64), metavar="N",
              help="Processes that clean and classify (default: one per CPU; 1 = all in one process).")
@click.pass_obj
def import_cmd(ctx: Ctx, file: Path, platform: str | None, source_id: str, fmt: str | None, batch_size: int,
               workers: int | None) -> None:
    """Import posts from another tool's export (JSONL or CSV) through clean → classify → store.

    Fields: text (required), url, created_at (ISO 8601), platform, external_id, author,
    source. Importing the same file again stores nothing twice. Authors are stored only as
    a pseudonym. Bad lines are listed with their line number and the rest is stored: exit 0
    (with a warning count) when at least one line was read, 2 when none could be.

    Afterwards the weekly counts of the last twelve complete weeks that received new posts
    are stored, so that the next report does not count them again (about a second per week at
    1,000,000 posts); a week that has not ended yet is left to the report.

    \b
    Examples:
      listener import examples/import_sample.jsonl
      listener import export_4cat.csv --platform reddit --source 4cat-reddit
    """
    from listener.importer import import_file, is_terminal

    _, factory = open_db(ctx)
    from listener.tagging import classifier_switched_off

    lazy = importlib.util.find_spec("classifiers") and not classifier_switched_off()
    tagger = _LazyTagger(ctx) if lazy else load_tagger_or_none(ctx)
    if is_terminal():
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                      TimeRemainingColumn(), transient=True) as bar:
            task = bar.add_task(f"import {file.name}", total=None)
            res = import_file(factory, file, tagger, source_id=source_id, platform=platform, fmt=fmt,
                              batch_size=batch_size, workers=workers,
                              progress=lambda done, total: bar.update(task, completed=done, total=total))
    else:
        res = import_file(factory, file, tagger, source_id=source_id, platform=platform, fmt=fmt, batch_size=batch_size,
                          workers=workers)
    c = res.counts
    click.echo(f"{file}: {res.lines} lines read, {res.good} good, {res.bad} bad; {c.new} posts stored, "
               f"{c.duplicate} already stored, {c.irrelevant} without a theme dropped, {c.skipped} other language "
               f"or empty (source '{res.source_id}', {res.elapsed_s:.1f}s)")
    if res.weeks_counted:
        w = res.weeks_counted
        click.echo(f"weekly counts stored for {len(w)} complete week{'s' if len(w) > 1 else ''} "
                   f"({w[0]}{' .. ' + w[-1] if len(w) > 1 else ''}, {res.counting_s:.1f}s)")
    if res.bad:
        for line, reason in res.bad_lines[:20]:
            click.echo(f"warning: {file}: line {line}: {reason}", err=True)
        more = res.bad - min(20, len(res.bad_lines))
        if more > 0:
            click.echo(f"warning: … and {more} more bad lines", err=True)
        click.echo(f"warning: {res.bad} bad lines skipped", err=True)


class _LazyTagger:
    """The classifier, loaded when the first good batch needs it (a bad file fails fast)."""

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx
        self._tagger = None

    def _get(self):  # noqa: ANN202
        if self._tagger is None:
            from listener.tagging import load_tagger

            self._tagger = load_tagger(self._ctx.keywords_path)
        return self._tagger

    @property
    def version(self) -> str:
        return self._get().version

    def classify_many(self, texts, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
        return self._get().classify_many(texts, *args, **kwargs)


@click.command("report")
@click.option("--week", metavar="YYYY-Www", help="ISO week, e.g. 2026-W47. Default: the last complete week.")
@click.option("--gemeente", "gemeenten", multiple=True, metavar="NAME_OR_CODE",
              help="Only this municipality: CBS code (GM0014) or official name. Repeatable.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Output directory. Default: reports/<week>/.")
@click.option("--min-count", default=1, show_default=True, type=click.IntRange(1, 1000),
              help="Show counts below N as '<N' in the published tables.")
@click.option("--sep", default=";", show_default=True, type=click.Choice([";", ","]),
              help="CSV separator (';' with a decimal comma for Dutch Excel).")
@click.option("--xlsx/--no-xlsx", default=True, show_default=True, help="Also write rapport.xlsx.")
@click.pass_obj
def report_cmd(ctx: Ctx, week: str | None, gemeenten: tuple[str, ...], out_dir: Path | None, min_count: int,
               sep: str, xlsx: bool) -> None:
    """Write the weekly report: overzicht, berichten, initiatieven and dekking (CSV, XLSX) and rapport.html.

    \b
    Examples:
      listener report                                   # last complete week → reports/2026-W47/
      listener report --week 2026-W47 --gemeente Emmen --gemeente GM1950 --out /srv/rapporten/emmen
      listener report --min-count 5 --no-xlsx
    """
    from listener.reports.weekly import write_weekly_report
    from listener.reports.weeks import parse_week

    wk = parse_week(week) if week else None
    _, factory = open_db(ctx)
    for path in write_weekly_report(factory, wk, out_dir, gemeenten, min_count, sep, xlsx):
        click.echo(f"Written: {path}")


@click.command("search")
@click.argument("query", default="")
@click.option("--gemeente", "gemeenten", multiple=True, metavar="NAME_OR_CODE", help="Municipality (repeatable).")
@click.option("--theme", "themes", multiple=True, metavar="ID", help="Theme id, e.g. voorzieningen (repeatable).")
@click.option("--signal", "signals", multiple=True, type=click.Choice(["probleem", "initiatief"]), help="Signal (repeatable).")
@click.option("--platform", "platforms", multiple=True, metavar="P", help="Platform, e.g. rss, x, reddit (repeatable).")
@click.option("--since", metavar="DATE", help="Only posts on or after DATE (YYYY-MM-DD).")
@click.option("--until", metavar="DATE", help="Only posts before DATE (YYYY-MM-DD).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "jsonl"]), default=None,
              help="Default: a table on a terminal, CSV otherwise.")
@click.pass_obj
def search_cmd(ctx: Ctx, query: str, gemeenten: tuple[str, ...], themes: tuple[str, ...], signals: tuple[str, ...],
               platforms: tuple[str, ...], since: str | None, until: str | None, limit: int, fmt: str | None) -> None:
    """Search stored posts: words, "exact phrases", OR, -exclusion. Best match first.

    Dutch word forms find each other (pinautomaten finds pinautomaat). An empty query lists
    the newest posts that pass the filters.

    \b
    Examples:
      listener search pinautomaat --gemeente "Het Hogeland" --since 2026-11-01
      listener search '"geen opvolger" huisarts OR tandarts -Groningen' --format csv > zorg.csv
    """
    from listener.audit import record
    from listener.reports.weekly import resolve_gemeenten
    from listener.search import filters_for_audit, search
    from listener.store.db import session_scope

    s_dt, u_dt = parse_date(since, "--since"), parse_date(until, "--until")
    _, factory = open_db(ctx)
    with session_scope(factory) as s:
        codes = sorted(resolve_gemeenten(s, gemeenten))
        hits = search(s, query, codes, themes, signals, platforms, s_dt, u_dt, limit)
        record(s, "search", filters_for_audit(query, gemeenten=codes, themes=themes, signals=signals,
                                              platforms=platforms, since=since, until=until, limit=limit), len(hits))
    fmt = fmt or ("table" if sys.stdout.isatty() else "csv")
    if fmt == "jsonl":
        for h in hits:
            click.echo(json.dumps(h.as_dict(), ensure_ascii=False))
    elif fmt == "csv":
        from listener.reports.excel import neutralise

        w = csv.writer(sys.stdout, lineterminator="\n")
        rows = [h.as_dict() for h in hits]
        w.writerow(["id", "datum", "platform", "gemeente", "plaats", "themas", "signalen", "fragment", "link", "score"])
        for r in rows:
            w.writerow([neutralise(str(v)) if isinstance(v, str) else v for v in r.values()])
    else:
        _print_table(hits, query)


def _print_table(hits: list, query: str) -> None:  # noqa: ANN001
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from listener.search import HL_END, HL_START

    console = Console()
    if not hits:
        console.print(Text(f"Geen berichten gevonden voor {query!r}."))
        return
    table = Table(title=Text(f"{len(hits)} berichten voor {query!r}"), show_lines=True)
    for col in ("datum", "gemeente", "thema's", "fragment", "link"):
        table.add_column(col, overflow="fold")
    for h in hits:
        frag = Text()
        for i, part in enumerate(h.snippet.replace(HL_END, HL_START).split(HL_START)):
            frag.append(part, style="bold yellow" if i % 2 else "")
        table.add_row(Text(h.date), Text(h.municipalities), Text(h.themes), frag, Text(h.url))
    console.print(table)


COMMANDS = [import_cmd, report_cmd, search_cmd]
