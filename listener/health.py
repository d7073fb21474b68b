"""Online checks of sources: reachability and credentials, storing nothing."""

from __future__ import annotations

import itertools
import os
import time

import click

from listener.collectors.base import CollectContext, collector_for
from listener.config import Config
from listener.errors import EXIT_OK, EXIT_SOURCES_FAILED, SourceSkipped
from listener.models import CursorState, Post


def check_online(cfg: Config, sample: int = 3) -> int:
    """Fetch each enabled source once (a few items), print one line per source; exit code."""
    s = cfg.settings
    ctx = CollectContext(timeout_s=s.timeout_s, max_body_bytes=int(s.max_body_mb * 1_000_000),
                         max_items_per_run=sample, env=dict(os.environ), keyword_sets=cfg.keyword_sets)
    failed = 0
    collectors: dict[str, object] = {}
    for src in cfg.sources:
        if not src.enabled:
            click.echo(f"  {src.id:<30} disabled")
            continue
        t0 = time.monotonic()
        try:
            coll = collectors.setdefault(src.kind, collector_for(src.kind, ctx))
            items = list(itertools.islice(coll.collect(src, CursorState()), 50))  # type: ignore[attr-defined]
            n = sum(isinstance(i, Post) for i in items)
            click.echo(f"  {src.id:<30} ok       {n} items in {time.monotonic() - t0:.1f}s")
        except SourceSkipped as exc:
            click.echo(f"  {src.id:<30} skipped  {exc}")
        except Exception as exc:  # noqa: BLE001 - report every source, whatever failed
            failed += 1
            click.echo(f"  {src.id:<30} FAILED   {exc}")
    for c in collectors.values():
        close = getattr(c, "close", None)
        if close:
            close()
    return EXIT_SOURCES_FAILED if failed else EXIT_OK
