"""Retention (purge) and the right to erasure (forget): they delete what they say and nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from listener.cli import main
from listener.config import parse_config
from listener.privacy import author_key
from listener.retention import ensure_weekly_counts, forget, iso_week, purge, week_bounds
from listener.store import queries
from listener.store.db import session_scope
from listener.store.models import AuditEntry, Post, PostTag, WeeklyCount

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def _tags(theme: str = "zorg", signals: tuple[str, ...] = ("probleem",), code: str = "GM1966",
          place: str = "Ulrum") -> tuple[dict, ...]:
    rows = [{"kind": "theme", "tag": theme}]
    rows += [{"kind": "signal", "tag": s} for s in signals]
    rows.append({"kind": "municipality", "tag": code, "label": "Het Hogeland", "place": place})
    rows.append({"kind": "region", "tag": "Noord-Groningen"})
    return tuple({"label": None, "place": None, "matched": None, "evidence": None,
                  "classifier_version": "test", **r} for r in rows)


def _post(source: str, ext: str, days_old: float, author: str | None = None, text: str | None = None,
          platform: str = "mastodon", collected_days_old: float | None = None, url: str | None = None,
          **tag_kw) -> tuple[queries.NewPost, float]:
    body = text or f"De huisarts in Ulrum stopt ({source} {ext})"
    return queries.NewPost(
        source_id=source, platform=platform, external_id=ext, text=body, url=url, language="nl",
        created_at=NOW - timedelta(days=days_old), author_key=author_key(platform, author) if author else None,
        content_hash=f"h-{source}-{ext}" if text is None else f"h-{text}", raw=None, tags=_tags(**tag_kw),
        classifier_version="test",
    ), (collected_days_old if collected_days_old is not None else 0)


def _seed(factory, posts: list[tuple[queries.NewPost, float]]) -> None:  # noqa: ANN001
    with session_scope(factory) as s:
        queries.store_posts(s, [p for p, _ in posts])
        for p, collected_days in posts:
            if collected_days:
                s.execute(Post.__table__.update().where(Post.external_id == p.external_id)
                          .values(collected_at=NOW - timedelta(days=collected_days)))


def _config(tmp_path: Path, **per_source: int):  # noqa: ANN202
    sources = [{"id": sid, "kind": "rss", "url": "f.xml", **({"retention_days": d} if d else {})}
               for sid, d in per_source.items()]
    return parse_config({"settings": {"retention_days": 90}, "sources": sources}, tmp_path / "sources.yaml")


def _remaining(factory) -> set[str]:  # noqa: ANN001
    with session_scope(factory) as s:
        return set(s.scalars(select(Post.external_id)))


def _tag_count(factory) -> int:  # noqa: ANN001
    with session_scope(factory) as s:
        return s.scalar(select(func.count()).select_from(PostTag))


def test_iso_week_in_amsterdam() -> None:
    # Sunday 23:30 UTC is Monday 00:30 in Amsterdam: the next week.
    assert iso_week(datetime(2026, 11, 29, 23, 30, tzinfo=timezone.utc)) == "2026-W49"
    assert iso_week(datetime(2026, 11, 29, 22, 30, tzinfo=timezone.utc)) == "2026-W48"
    start, end = week_bounds("2026-W49")
    assert start == datetime(2026, 11, 29, 23, 0, tzinfo=timezone.utc) and end - start == timedelta(days=7)


def test_purge_deletes_old_posts_per_source_and_keeps_aggregates(tmp_path: Path, store) -> None:
    _, factory = store
    _seed(factory, [
        _post("a", "a-old", 40),  # a keeps 30 days
        _post("a", "a-new", 10),
        _post("b", "b-old", 100),  # b keeps the default 90
        _post("b", "b-mid", 40),
        _post("b", "b-late", 1, collected_days_old=95),  # collected long ago: goes too
        _post("gone", "gone-old", 91),  # a source no longer configured: default
    ])
    cfg = _config(tmp_path, a=30, b=None)
    dry = purge(factory, cfg, now=NOW, dry_run=True)
    assert dry.deleted == {"a": 1, "b": 2, "gone": 1} and dry.dry_run
    assert len(_remaining(factory)) == 6  # dry run deletes nothing
    tags_before = _tag_count(factory)

    result = purge(factory, cfg, now=NOW)
    assert result.deleted == {"a": 1, "b": 2, "gone": 1} and result.tags == 4 * 4
    assert result.retention_days == {"a": 30, "b": 90, "gone": 90}
    assert _remaining(factory) == {"a-new", "b-mid"}
    assert _tag_count(factory) == tags_before - 16
    with session_scope(factory) as s:
        counts = {(w.week, w.area_kind, w.area, w.place, w.theme): (w.n_posts, w.n_probleem, w.n_initiatief)
                  for w in s.scalars(select(WeeklyCount))}
        audits = list(s.scalars(select(AuditEntry).where(AuditEntry.command == "purge").order_by(AuditEntry.id)))
    week_a_old = iso_week(NOW - timedelta(days=40))  # a-old and b-mid share this week
    assert counts[(week_a_old, "municipality", "GM1966", "", "zorg")] == (2, 2, 0)
    assert counts[(week_a_old, "municipality", "GM1966", "Ulrum", "zorg")] == (2, 2, 0)
    assert counts[(week_a_old, "region", "Noord-Groningen", "", "zorg")] == (2, 2, 0)
    assert (iso_week(NOW - timedelta(days=100)), "municipality", "GM1966", "", "zorg") in counts
    assert [a.rows for a in audits] == [4, 4]
    assert audits[0].filters["dry_run"] is True and audits[1].filters["dry_run"] is False
    assert "text" not in str(audits[1].filters)

    again = purge(factory, cfg, now=NOW)
    assert again.total == 0 and _remaining(factory) == {"a-new", "b-mid"}
    # Recomputing a partly purged week never lowers its counts.
    with session_scope(factory) as s:
        ensure_weekly_counts(s, [week_a_old])
    with session_scope(factory) as s:
        row = s.scalar(select(WeeklyCount).where(WeeklyCount.week == week_a_old, WeeklyCount.area == "GM1966",
                                                 WeeklyCount.place == ""))
    assert row.n_posts == 2


def test_aggregates_count_distinct_content(tmp_path: Path, store) -> None:
    _, factory = store
    same = "De bus naar Ulrum rijdt niet meer"
    _seed(factory, [
        _post("a", "1", 100, text=same, theme="mobiliteit", signals=("probleem", "initiatief")),
        _post("b", "2", 100, text=same, theme="mobiliteit", signals=("probleem", "initiatief")),  # same item twice
        _post("b", "3", 100, text="Buurtbus gestart in Ulrum", theme="mobiliteit", signals=("initiatief",)),
    ])
    purge(factory, _config(tmp_path, a=None, b=None), now=NOW)
    with session_scope(factory) as s:
        row = s.scalar(select(WeeklyCount).where(WeeklyCount.area == "GM1966", WeeklyCount.place == "",
                                                 WeeklyCount.theme == "mobiliteit"))
    assert (row.theme, row.n_posts, row.n_probleem, row.n_initiatief) == ("mobiliteit", 2, 1, 2)


def test_forget_deletes_one_author_and_nothing_else(store) -> None:
    _, factory = store
    _seed(factory, [
        _post("a", "jan-1", 1, author="jan@dorp.social"),
        _post("b", "jan-2", 1, author="@Jan@Dorp.Social"),
        _post("a", "piet-1", 1, author="piet@dorp.social"),
        _post("a", "anon", 1),
        _post("r", "jan-rss", 1, url="https://dorp.social/@jan/1123"),  # via RSS: no author key, a link
        _post("r", "jans-rss", 1, url="https://dorp.social/@jansen/99"),
        _post("x", "jan-x", 1, author="jan@dorp.social", platform="x"),  # another platform
    ])
    dry = forget(factory, "mastodon", "@jan@dorp.social", dry_run=True)
    assert dry.total == 3 and len(_remaining(factory)) == 7
    result = forget(factory, "Mastodon", "@jan@dorp.social")
    assert result.deleted == {"a": 1, "b": 1, "r": 1} and result.tags == 12
    assert _remaining(factory) == {"piet-1", "anon", "jans-rss", "jan-x"}
    with session_scope(factory) as s:
        orphans = s.scalar(select(func.count()).select_from(PostTag).where(PostTag.post_id.not_in(select(Post.id))))
        audits = list(s.scalars(select(AuditEntry).where(AuditEntry.command == "forget")))
    assert orphans == 0
    assert [a.rows for a in audits] == [3, 3]
    logged = str([(a.filters, a.os_user) for a in audits]).lower()
    assert "jan" not in logged and author_key("mastodon", "jan@dorp.social") not in logged


def test_cli_purge_forget_audit(tmp_path: Path, db_url: str) -> None:
    from listener.store.db import open_store

    engine, factory = open_store(db_url)
    _seed(factory, [_post("a", "old", 400), _post("a", "new", 1, author="jan@dorp.social")])
    engine.dispose()
    cfg = tmp_path / "sources.yaml"
    cfg.write_text("sources:\n  - id: a\n    kind: rss\n    url: f.xml\n    retention_days: 30\n", encoding="utf-8")
    base = ["--db", db_url, "--sources", str(cfg)]
    r = CliRunner().invoke(main, [*base, "purge", "--dry-run"])
    assert r.exit_code == 0 and "a: would delete 1 posts older than 30 days" in r.output
    r = CliRunner().invoke(main, [*base, "purge"])
    assert r.exit_code == 0 and "a: deleted 1 posts" in r.output
    r = CliRunner().invoke(main, [*base, "forget", "--author", "@jan@dorp.social", "--platform", "mastodon"])
    assert r.exit_code == 0 and "deleted 1 posts of this author" in r.output
    r = CliRunner().invoke(main, [*base, "forget", "--author", "", "--platform", "mastodon"])
    assert r.exit_code == 2 and r.output.strip() == "listener: --author: is empty"
    r = CliRunner().invoke(main, [*base, "audit", "--last", "10"])
    assert r.exit_code == 0
    lines = r.output.strip().splitlines()
    assert [ln.split()[1] for ln in lines] == ["purge", "purge", "forget"]
    assert "jan" not in r.output
    r = CliRunner().invoke(main, [*base, "audit", "--command", "forget", "--json"])
    assert r.exit_code == 0 and '"command": "forget"' in r.output and len(r.output.strip().splitlines()) == 1
    r = CliRunner().invoke(main, [*base, "purge", "--bogus"])
    assert r.exit_code == 2


@pytest.mark.parametrize("week", ["2026-48", "W48", "2026-W99"])
def test_bad_week(week: str) -> None:
    from listener.errors import ConfigError

    with pytest.raises(ConfigError):
        week_bounds(week)
