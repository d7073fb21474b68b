"""CLI: `listener classify`, `explain`, `evaluate` and `gazetteer update|show`."""

from __future__ import annotations

import csv
import functools
import io
import json
import sys
from pathlib import Path
from typing import IO, Any, Iterator

import click

from listener.errors import InputError

BATCH = 512


def _classifier(ctx: click.Context):
    keywords = getattr(ctx.obj, "keywords_path", None)
    return _build(str(keywords) if keywords else None)


@functools.lru_cache(maxsize=2)
def _build(keywords: str | None):
    from classifiers import Classifier

    return Classifier(Path(keywords) if keywords else None)


def _open_in(path: str) -> tuple[IO[str], str]:
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="strict"), "<stdin>"
    try:
        return open(path, encoding="utf-8-sig", newline=""), path
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from exc


def _records(fh: IO[str], name: str, fmt: str) -> Iterator[dict[str, Any]]:
    """Input records (JSONL with a 'text' field, or CSV with a 'text' column)."""
    try:
        if fmt == "csv":
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or "text" not in reader.fieldnames:
                raise InputError(f"{name}:1: CSV needs a 'text' column")
            for row in reader:
                yield dict(row)
            return
        from classifiers.evaluate import jsonl_records

        for _, rec in jsonl_records(fh, name):
            yield rec
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text ({exc.reason})") from exc


@click.command("classify")
@click.argument("input_path", metavar="INPUT", default="-")
@click.option("-o", "--output", default="-", metavar="OUTPUT", help="JSONL output file (default: stdout).")
@click.option("--format", "fmt", type=click.Choice(["auto", "jsonl", "csv"]), default="auto", show_default=True,
              help="Input format; auto = by file extension (.csv), else JSONL.")
@click.option("-j", "--processes", default=1, show_default=True, help="Worker processes for large files.")
@click.option("--with-version", is_flag=True,
              help="Also add 'classifier_version' (code version + hash of keyword and gazetteer files).")
@click.pass_context
def classify_cmd(ctx: click.Context, input_path: str, output: str, fmt: str, processes: int,
                 with_version: bool) -> None:
    """Tag posts: themes, signals, municipalities, regions and evidence (JSONL out).

    \b
    Examples:
      listener classify posts.jsonl -o tagged.jsonl
      listener classify export.csv --with-version > tagged.jsonl
      cat posts.jsonl | listener classify - | jq .themes
    """
    import itertools

    if fmt == "auto":
        fmt = "csv" if input_path.lower().endswith(".csv") else "jsonl"
    clf = _classifier(ctx)
    fh, name = _open_in(input_path)
    try:
        out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{output}: cannot write: {exc.strerror or exc}") from exc
    try:
        records = _records(fh, name, fmt)
        while True:
            batch = list(itertools.islice(records, BATCH * max(1, processes)))
            if not batch:
                break
            results = clf.classify_many((r["text"] or "" for r in batch), batch_size=BATCH, n_process=processes)
            for rec, res in zip(batch, results):
                rec.update(res.to_dict())
                if with_version:
                    rec["classifier_version"] = clf.version
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
        if fh is not sys.stdin:
            fh.close()


@click.command("explain")
@click.argument("text")
@click.pass_context
def explain_cmd(ctx: click.Context, text: str) -> None:
    """Show the tags of one text with the words that triggered them.

    \b
    Example:
      listener explain "De pinautomaat in Warffum verdwijnt, wie doet mee met een actie?"
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    clf = _classifier(ctx)
    res = clf.classify(text)
    console = Console()
    marked = Text(text)
    for ev in res.evidence:
        marked.stylize("bold yellow", ev.start, ev.end)
    console.print(marked)
    table = Table(title=f"classifier {clf.version}", show_lines=False)
    for col in ("soort", "tag", "woorden", "positie"):
        table.add_column(col)
    kinds = {t: "thema" for t in res.themes} | {s: "signaal" for s in res.signals} | {r: "regio" for r in res.regions}
    names = {m.code: f"{m.code} {m.name}" + (f" (via {m.place})" if m.place else "") for m in res.municipalities}
    for ev in res.evidence:
        kind = kinds.get(ev.tag, "gemeente" if ev.tag in names else "?")
        table.add_row(kind, names.get(ev.tag, ev.tag), ev.matched, f"{ev.start}-{ev.end}")
    console.print(table)
    if not res.relevant:
        console.print("[dim]Geen thema: deze post is niet relevant.[/dim]")


@click.command("evaluate")
@click.argument("labelled", type=click.Path(dir_okay=False))
@click.option("--baseline", is_flag=True, help="Also score the two baselines (substring keywords, naive gazetteer).")
@click.option("--errors", "show_errors", is_flag=True, help="Print the misclassified posts as JSONL (label format).")
@click.pass_context
def evaluate_cmd(ctx: click.Context, labelled: str, baseline: bool, show_errors: bool) -> None:
    """Precision, recall and F1 per theme and signal, municipalities and regions on labelled JSONL.

    \b
    Example:
      listener evaluate tests/classifiers/labelled_posts.jsonl --baseline --errors
    """
    from rich.console import Console
    from rich.table import Table

    from classifiers.data import SIGNALS, THEMES
    from classifiers.evaluate import evaluate

    reports = evaluate(labelled, _classifier(ctx), baselines=baseline)
    console = Console()
    table = Table(title=f"{labelled}")
    table.add_column("tag")
    for r in reports:
        for col in ("P", "R", "F1"):
            table.add_column(f"{r.name} {col}", justify="right")
    for tag in THEMES + SIGNALS:
        table.add_row(tag, *[f"{x:.2f}" for r in reports for x in
                             (r.per_tag[tag].precision, r.per_tag[tag].recall, r.per_tag[tag].f1)])
    for label, getter in (("themes micro", lambda r: r.micro(THEMES)), ("signals micro", lambda r: r.micro(SIGNALS)),
                          ("municipalities", lambda r: r.municipalities), ("regions", lambda r: r.regions)):
        table.add_row(label, *[f"{x:.2f}" for r in reports for x in
                               (getter(r).precision, getter(r).recall, getter(r).f1)])
    table.add_row("themes macro F1", *[s for r in reports for s in ("", "", f"{r.macro_f1(THEMES):.2f}")])
    console.print(table)
    if show_errors:
        for err in reports[0].errors:
            click.echo(json.dumps(err, ensure_ascii=False))


@click.group("gazetteer")
def gazetteer_group() -> None:
    """Municipality gazetteer: refresh from CBS open data, look names up.

    \b
    Examples:
      listener gazetteer show Súdwest-Fryslân
      listener gazetteer update --dry-run
    """


@gazetteer_group.command("update")
@click.option("--from-file", type=click.Path(dir_okay=False), help="Use a recorded CBS OData response (JSON).")
@click.option("--url", envvar="LISTENER_CBS_URL", default=None, help="CBS OData TypedDataSet URL.")
@click.option("--dry-run", is_flag=True, help="Show the changes, write nothing.")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None, help="Gazetteer directory.")
def gazetteer_update(from_file: str | None, url: str | None, dry_run: bool, directory: str | None) -> None:
    """Refresh gemeenten.tsv from CBS (municipal mergers take effect on 1 January).

    \b
    Examples:
      listener gazetteer update --dry-run
      listener gazetteer update --from-file cbs_gebieden_2026.json
    """
    from classifiers.cbs import DEFAULT_URL, update
    from classifiers.data import default_gazetteer_dir

    report = update(Path(directory) if directory else default_gazetteer_dir(), url=url or DEFAULT_URL,
                    from_file=Path(from_file) if from_file else None, dry_run=dry_run)
    click.echo(f"{len(report.rows)} gemeenten bij CBS")
    for label, items in (("nieuw", report.added), ("weg", report.removed), ("hernoemd", report.renamed)):
        for item in items:
            click.echo(f"  {label}: {item}")
    if not report.changed:
        click.echo("geen wijzigingen")
    elif dry_run:
        click.echo("dry run: niets geschreven")
    elif report.written:
        click.echo("gemeenten.tsv bijgewerkt")


@gazetteer_group.command("show")
@click.argument("name")
def gazetteer_show(name: str) -> None:
    """Show which municipality a name, woonplaats or CBS code stands for.

    \b
    Example:
      listener gazetteer show Ljouwert
    """
    from classifiers.gazetteer import default_gazetteer

    g = default_gazetteer()
    hit = g.resolve(name)
    cands = g.names.get(name.lower(), {})
    if hit:
        m = g.municipalities[hit[0]]
        click.echo(f"{m.code}\t{m.name}\t{m.province}")
    elif len(cands) > 1:
        click.echo(f"{name}: meerdere gemeenten ({g.kind(name.lower())}):")
    elif not cands:
        raise InputError(f"{name}: not in the gazetteer")
    for code, place in sorted(cands.items()) if len(cands) > 1 else []:
        m = g.municipalities[code]
        click.echo(f"  {m.code}\t{m.name}\t{m.province}\t{place or ''}")


COMMANDS = [classify_cmd, explain_cmd, evaluate_cmd, gazetteer_group]
