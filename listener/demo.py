"""The offline demo: the bundled sample feeds through the real pipeline into a local database."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

import listener
from listener.config import load_config
from listener.errors import ConfigError
from listener.pipeline import Pipeline, RunSummary
from listener.store.db import open_store, session_scope
from listener.store.models import Post, PostTag
from listener.store.queries import iter_posts, post_to_dict


def examples_dir() -> Path:
    """The bundled examples: repo-root ``examples/`` or the copy packaged in the wheel."""
    pkg = Path(listener.__file__).resolve().parent
    for candidate in (pkg.parent / "examples", pkg / "data" / "examples"):
        if (candidate / "sources.yaml").is_file():
            return candidate
    raise ConfigError("the bundled examples/ directory is missing from this installation")


@dataclass
class DemoResult:
    summary: RunSummary
    db_url: str
    total_posts: int
    same_item_elsewhere: int = 0  # posts whose content hash another stored post shares
    per_theme: dict[str, int] = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)
    report_week: str | None = None


def run_demo(out_dir: Path, db_url: str | None, tagger: Any) -> DemoResult:
    """Run every bundled sample source once and write the stored posts to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    url = db_url or f"sqlite:///{(out_dir / 'listener.db').as_posix()}"
    cfg = load_config(examples_dir() / "sources.yaml")
    _, factory = open_store(url)
    summary = Pipeline(cfg, factory, tagger).run(only_due=False)
    result = DemoResult(summary=summary, db_url=url, total_posts=0)
    with session_scope(factory) as s:
        result.total_posts = s.scalar(select(func.count()).select_from(Post)) or 0
        distinct = s.scalar(select(func.count(func.distinct(Post.content_hash)))) or 0
        result.same_item_elsewhere = result.total_posts - distinct
        rows = s.execute(
            select(PostTag.tag, func.count(func.distinct(PostTag.post_id)))
            .where(PostTag.kind == "theme").group_by(PostTag.tag).order_by(PostTag.tag)
        )
        result.per_theme = {tag: n for tag, n in rows}
        path = out_dir / "berichten.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for post, tags in iter_posts(s):
                d = post_to_dict(post, tags)
                d.pop("author_key", None)
                fh.write(json.dumps(d, ensure_ascii=False) + "\n")
        result.outputs.append(path)
        newest = s.scalar(select(func.max(Post.created_at)))
    if newest is not None:
        # The samples are dated; report the week of the newest sample post, whatever today is.
        from listener.reports.weekly import write_weekly_report
        from listener.reports.weeks import week_of
        from listener.schedules import TZ

        if newest.tzinfo is None:
            newest = newest.replace(tzinfo=timezone.utc)
        week = week_of(newest.astimezone(TZ).date())
        result.report_week = week.label
        result.outputs += write_weekly_report(factory, week=week, out_dir=out_dir / "reports" / week.label)
    return result
