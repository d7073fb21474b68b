"""`listener status` health and exit codes, `listener runs` history."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from click.testing import CliRunner

from listener.cli import main
from listener.config import load_config
from listener.pipeline import Pipeline
from listener.status import health_exit_code, run_history, source_health
from listener.store import queries
from listener.store.db import session_scope
from listener.store.models import Source, SourceState

FEED = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Dorp</title>
<item><title>Buurtbus rijdt niet meer</title><link>https://example.org/1</link><guid>n1</guid>
<description>Het dorpshuis zoekt vrijwilligers.</description></item></channel></rss>"""


def _sources(tmp_path: Path, extra: list[dict] | None = None) -> Path:
    (tmp_path / "feed.xml").write_text(FEED, encoding="utf-8")
    common = {"kind": "rss", "languages": [], "keep_irrelevant": True}
    srcs = [{"id": "ok", "url": "feed.xml", "schedule": "1h", **common},
            {"id": "off", "url": "gone.xml", "schedule": "1h", "enabled": False, **common}]
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": srcs + (extra or [])}), encoding="utf-8")
    return path


def _cli(db_url: str, sources: Path, *args: str):  # noqa: ANN202
    return CliRunner().invoke(main, ["--db", db_url, "--sources", str(sources), *args])


def _age_source(factory, sid: str, age: timedelta) -> None:  # noqa: ANN001
    with session_scope(factory) as s:
        s.get(Source, sid).first_seen_at = datetime.now(timezone.utc) - age


def test_healthy_after_a_run_and_new_sources_get_three_intervals(tmp_path: Path, store, db_url: str) -> None:
    _, factory = store
    path = _sources(tmp_path, [{"id": "young", "kind": "rss", "url": "missing.xml", "schedule": "1h"}])
    cfg = load_config(path)
    Pipeline(cfg, factory, None).run(["ok"])
    with session_scope(factory) as s:
        queries.sync_sources(s, cfg.sources)
    with session_scope(factory) as s:
        rows = {r.source_id: r for r in source_health(s, cfg)}
    assert rows["ok"].healthy and rows["ok"].last_status == "ok" and rows["ok"].new_last_run == 1
    assert rows["ok"].new_7d == 1 and rows["ok"].next_due_at > rows["ok"].last_run_at
    assert rows["young"].healthy and rows["young"].last_run_at is None  # never run, 0 h old
    assert not rows["off"].enabled and rows["off"].next_due_at is None
    res = _cli(db_url, path, "status")
    assert res.exit_code == 0, res.output
    assert "ok" in res.output and "healthy" in res.output


def test_status_exits_1_when_a_source_failed_for_more_than_three_intervals(tmp_path: Path, store, db_url: str) -> None:
    _, factory = store
    path = _sources(tmp_path, [{"id": "broken", "kind": "rss", "url": "missing.xml", "schedule": "1h"}])
    cfg = load_config(path)
    summary = Pipeline(cfg, factory, None).run(only_due=False)
    assert {r.source_id: r.status for r in summary.results} == {"ok": "ok", "broken": "failed"}
    _age_source(factory, "broken", timedelta(hours=2))
    assert _cli(db_url, path, "status").exit_code == 0  # failing, but for less than 3 h
    _age_source(factory, "broken", timedelta(hours=3, minutes=5))
    _age_source(factory, "off", timedelta(days=30))  # disabled: ignored however old
    res = _cli(db_url, path, "status")
    assert res.exit_code == 1, res.output
    assert "broken" in res.output and "ATTENTION" in res.output
    lines = [json.loads(x) for x in _cli(db_url, path, "status", "--json").output.splitlines()]
    broken = next(x for x in lines if x["source_id"] == "broken")
    assert not broken["healthy"] and "missing.xml" in broken["last_error"]
    assert "no successful run" in broken["problem"]


def test_old_success_makes_a_source_unwell(tmp_path: Path, store) -> None:
    _, factory = store
    cfg = load_config(_sources(tmp_path))
    Pipeline(cfg, factory, None).run(["ok"])
    with session_scope(factory) as s:
        s.get(SourceState, "ok").last_success_at = datetime.now(timezone.utc) - timedelta(hours=4)
    with session_scope(factory) as s:
        rows = source_health(s, cfg)
    assert health_exit_code(rows) == 1
    assert "no success for 4.0 hours" in next(r for r in rows if r.source_id == "ok").problem


def test_runs_lists_history_newest_first(tmp_path: Path, store, db_url: str) -> None:
    _, factory = store
    path = _sources(tmp_path, [{"id": "other", "kind": "rss", "url": "feed.xml", "schedule": "1h",
                                "languages": [], "keep_irrelevant": True}])
    cfg = load_config(path)
    for _ in range(3):
        Pipeline(cfg, factory, None).run(["ok"])
    Pipeline(cfg, factory, None).run(["other"])
    with session_scope(factory) as s:
        assert [r.source_id for r in run_history(s)] == ["other", "ok", "ok", "ok"]
        assert len(run_history(s, "ok", last=2)) == 2
    res = _cli(db_url, path, "runs", "--source", "ok", "--last", "2", "--json")
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in res.output.splitlines()]
    assert [r["source_id"] for r in rows] == ["ok", "ok"] and rows[0]["id"] > rows[1]["id"]
    assert [(r["new"], r["duplicate"], r["status"]) for r in rows] == [(0, 1, "ok"), (0, 1, "ok")]
    table = _cli(db_url, path, "runs")
    assert table.exit_code == 0 and "other" in table.output
