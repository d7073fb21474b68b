"""Root command group, global options and the error → exit-code mapping."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from listener import __version__
from listener.errors import EXIT_ERROR, ListenerError
from listener.logs import redact

log = logging.getLogger("listener")


class Ctx:
    """Options shared by every command (``--db``, ``--sources``, ``--keywords``)."""

    def __init__(self, db: str | None, sources: str | None, keywords: str | None, debug: bool) -> None:
        self.db_url = db
        self.sources_path = sources
        self.keywords_path = keywords
        self.debug = debug


class ListenerGroup(click.Group):
    """Turns ListenerError into one stderr line and its exit code; --debug shows tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ListenerError as exc:
            if _debug(ctx):
                raise
            click.echo(f"listener: {redact(str(exc))}", err=True)
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("listener: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - last line of defence: never a traceback
            if _debug(ctx):
                raise
            click.echo(f"listener: unexpected error: {type(exc).__name__}: {redact(str(exc))} "
                       "(run with --debug for details)", err=True)
            sys.exit(EXIT_ERROR)


def _debug(ctx: click.Context) -> bool:
    obj = ctx.obj
    return bool(getattr(obj, "debug", False)) or os.environ.get("LISTENER_DEBUG") == "1"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from classifiers import compiled_modules  # cheap: no spaCy

    n = len(compiled_modules())
    how = f"classifier compiled with Cython, {n} modules" if n else "classifier as pure Python"
    click.echo(f"listener, version {__version__} ({how})")
    ctx.exit()


@click.group(cls=ListenerGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version, and whether the classifier runs compiled, and exit.")
@click.option("--db", envvar="LISTENER_DATABASE_URL", metavar="URL",
              help="Database URL (env LISTENER_DATABASE_URL). Default: sqlite:///listener.db in the working directory.")
@click.option("--sources", envvar="LISTENER_SOURCES", metavar="FILE",
              help="Source configuration (env LISTENER_SOURCES). Default: ./sources.yaml.")
@click.option("--keywords", envvar="LISTENER_KEYWORDS", metavar="FILE",
              help="Keyword file (env LISTENER_KEYWORDS). Default: ./keywords_nl.txt, else the bundled one.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Log lines for a terminal (text) or for a log collector (json).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, db: str | None, sources: str | None, keywords: str | None,
         log_format: str, verbose: int, debug: bool) -> None:
    """krimp-listener: collect, tag and report everyday Dutch posts about liveability in
    shrinking regions.

    \b
    Examples:
      listener demo                       # offline demo on the bundled sample feeds
      listener db upgrade                 # create or migrate the database
      listener run --once                 # collect every due source once (cron)
      listener report                     # last week's report for analysts (reports/2026-W47/)
      listener search "buurtbus" --gemeente Oldambt
      listener status                     # health per source; exit 1 when one is failing
    """
    from listener.logs import configure_logging

    configure_logging(log_format, verbose)
    ctx.obj = Ctx(db, sources, keywords, debug)


def sources_path(ctx: Ctx) -> Path:
    """The sources.yaml to use: --sources, LISTENER_SOURCES or ./sources.yaml."""
    return Path(ctx.sources_path or "sources.yaml")


def _register() -> None:
    # Command modules import heavy libraries lazily inside their functions so that
    # `listener --help` stays fast.
    from listener.cli import classify, commands_core, ops, privacy, reports

    for module in (commands_core, classify, ops, reports, privacy):
        for cmd in module.COMMANDS:
            main.add_command(cmd)


_register()
