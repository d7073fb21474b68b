"""listener import: JSONL and CSV through the real pipeline, bad lines, idempotence, privacy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from listener.cli import main
from listener.importer import import_file
from listener.privacy import author_key
from listener.store.db import session_scope
from listener.store.models import Post, Run, Source

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "examples"


def _tagger():  # noqa: ANN202
    try:
        from classifiers import Classifier
    except ImportError:
        return None
    return Classifier()


@pytest.fixture(scope="module")
def tagger():  # noqa: ANN201
    """The real classifier when the package is there, else None (posts stored untagged)."""
    return _tagger()


def _count(factory) -> int:  # noqa: ANN001
    with session_scope(factory) as s:
        return s.scalar(select(func.count()).select_from(Post)) or 0


def test_jsonl_sample_bad_line_and_idempotent(store) -> None:  # noqa: ANN001
    _, factory = store
    res = import_file(factory, SAMPLES / "import_sample.jsonl", tagger=None)
    assert (res.lines, res.bad, res.bad_lines[0][0]) == (15, 1, 9)
    assert "invalid JSON" in res.bad_lines[0][1]
    assert res.counts.new == 14 == _count(factory)
    again = import_file(factory, SAMPLES / "import_sample.jsonl", tagger=None)
    assert again.counts.new == 0 and again.counts.duplicate == 14 and _count(factory) == 14
    with session_scope(factory) as s:
        src = s.get(Source, "import")
        assert src is not None and src.kind == "import"
        runs = list(s.scalars(select(Run).where(Run.source_id == "import")))
        assert [r.status for r in runs] == ["ok", "ok"] and runs[0].new == 14 and runs[0].warnings == 1


def test_author_never_stored_in_clear(store) -> None:  # noqa: ANN001
    engine, factory = store
    import_file(factory, SAMPLES / "import_sample.jsonl", tagger=None)
    handles = ["noordkop_nel", "zeeuwse_student", "fenna-wadden.bsky.social"]
    with engine.connect() as conn:
        for table in ("posts", "post_tags", "runs", "sources"):
            cols = [r[0] for r in conn.execute(text(f"SELECT * FROM {table} LIMIT 0")).cursor.description]
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                blob = json.dumps([str(v) for v in row]).lower()
                for h in handles:
                    assert h not in blob, (table, cols)
    with session_scope(factory) as s:
        post = s.scalar(select(Post).where(Post.external_id == "1859302214455170112"))
        assert post.author_key == author_key("x", "noordkop_nel") and post.raw["origin"] == "export-andere-tool"
        assert post.url == "https://x.com/gebruiker/status/1859302214455170112"


def test_csv_sample_with_real_pipeline(sqlite_store, tagger) -> None:  # noqa: ANN001
    _, factory = sqlite_store
    res = import_file(factory, SAMPLES / "import_sample.csv", tagger=tagger, source_id="andere-tool", platform="facebook")
    assert res.lines == 10 and res.bad == 0
    with session_scope(factory) as s:
        posts = list(s.scalars(select(Post)))
        assert {p.source_id for p in posts} == {"andere-tool"}
        multi = [p for p in posts if "bewonersavond" in p.text]
        assert multi and "\n" in multi[0].text  # a line break inside quotes stays one post
    if tagger is not None:
        assert res.counts.irrelevant >= 2 and res.counts.new == 10 - res.counts.irrelevant
        assert all(p.classifier_version for p in posts)
    else:
        assert res.counts.new == 10


def test_bad_lines_reported_with_line_numbers(sqlite_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    _, factory = sqlite_store
    f = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps({"text": "De bibliotheek in Ulrum gaat dicht", "author": "@jan"}),
        "",
        '{"text": "kapot',
        json.dumps(["geen", "object"]),
        json.dumps({"url": "https://example.org/zonder-tekst"}),
        json.dumps({"text": "Huisarts in Ter Apel stopt", "created_at": "gisteren"}),
        json.dumps({"text": "Dorpshuis zoekt vrijwilligers", "created_at": "2026-11-18T10:00:00", "platform": "Reddit"}),
    ]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["--db", f"sqlite:///{tmp_path / 'listener.db'}", "import", str(f)])
    assert res.exit_code == 0, res.output
    for n in (3, 4, 5, 6):
        assert f"line {n}:" in res.output
    assert "6 lines read, 2 good, 4 bad" in res.output and "4 bad lines skipped" in res.output


def test_nothing_readable_exits_2(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'listener.db'}"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("nonsense\n{broken\n", encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(main, ["--db", db, "import", str(bad)])
    assert res.exit_code == 2 and "nothing could be imported" in res.output and "line 1" in res.output
    res = runner.invoke(main, ["--db", db, "import", str(tmp_path / "missing.csv")])
    assert res.exit_code == 2
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("a,b\n1,2\n", encoding="utf-8")
    res = runner.invoke(main, ["--db", db, "import", str(nocol)])
    assert res.exit_code == 2 and "no 'text' column" in res.output


def test_excel_csv_with_semicolons_bom_and_line_numbers(sqlite_store, tmp_path: Path) -> None:  # noqa: ANN001
    _, factory = sqlite_store
    f = tmp_path / "excel.csv"
    f.write_bytes("\ufefftekst;x\n".encode("utf-8"))  # no text column under an alias: refused below
    rows = ['text;created_at;author;extra',
            '"Buurtbus Aalten zoekt\nchauffeurs";2026-11-18;piet;1',
            'De school in Zandeweer sluit;2026-11-19T08:00:00+01:00;;2',
            'te veel;velden;hier;3;4',
            '"Glasvezel in Borger-Odoorn";2026-11-20;;5']
    f.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))
    res = import_file(factory, f, tagger=None, source_id="excel")
    assert res.lines == 4 and res.bad_lines == [(5, "more fields than the header has (4)")]
    assert res.counts.new == 3
    with session_scope(factory) as s:
        keys = set(s.scalars(select(Post.author_key)))
        assert author_key("import", "piet") in keys


def test_import_refuses_a_collected_source_id(sqlite_store, tmp_path: Path) -> None:  # noqa: ANN001
    from listener.errors import ConfigError

    _, factory = sqlite_store
    with session_scope(factory) as s:
        s.add(Source(id="rtv-noord", kind="rss", name="RTV Noord", config={}))
    with pytest.raises(ConfigError, match="rss source"):
        import_file(factory, SAMPLES / "import_sample.jsonl", tagger=None, source_id="rtv-noord")
    with pytest.raises(ConfigError, match="not a valid source id"):
        import_file(factory, SAMPLES / "import_sample.jsonl", tagger=None, source_id="../etc")


def test_streams_in_bounded_memory(sqlite_store, tmp_path: Path) -> None:  # noqa: ANN001
    import tracemalloc

    _, factory = sqlite_store
    f = tmp_path / "big.jsonl"
    with f.open("w", encoding="utf-8") as fh:
        for i in range(2000):
            fh.write(json.dumps({"text": f"De pinautomaat in dorp {i} verdwijnt, zegt de bank " + "x" * 200,
                                 "external_id": str(i)}) + "\n")
    calls: list[int] = []
    tracemalloc.start()
    res = import_file(factory, f, tagger=None, batch_size=200, progress=lambda done, total: calls.append(done))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert res.counts.new == 2000 and len(calls) == 10 and calls[-1] == f.stat().st_size
    assert peak < 6_000_000, peak  # the whole file as posts would be far more


def test_worker_processes_store_the_same_as_one_process(tmp_path: Path, tagger, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import listener.importer
    from listener.store.db import open_store

    f = tmp_path / "many.jsonl"
    with f.open("w", encoding="utf-8") as fh:
        for i in range(600):
            if i % 97 == 5:
                fh.write("{kapot\n")
            else:
                place = ("Warffum", "Ter Apel", "Emmen")[i % 3]
                fh.write(json.dumps({"text": f"De bibliotheek in {place} sluit, bericht {i}", "id": str(i),
                                     "created_at": "2026-11-18T10:00:00+01:00", "author": f"a{i % 7}"}) + "\n")
    monkeypatch.setattr(listener.importer, "WORKER_BATCHES", 2)  # workers are also replaced on the way
    results, stored = [], []
    for workers in (1, 2):
        engine, factory = open_store(f"sqlite:///{tmp_path / f'w{workers}.db'}")
        calls: list[int] = []
        res = import_file(factory, f, tagger, batch_size=50, workers=workers, progress=lambda d, t: calls.append(d))
        assert calls == sorted(calls) and calls[-1] == f.stat().st_size
        results.append((res.lines, res.bad, res.bad_lines, res.counts))
        with session_scope(factory) as s:
            stored.append(sorted((p.external_id, p.text, p.author_key, p.classifier_version) for p in s.scalars(select(Post))))
        engine.dispose()
    assert results[0] == results[1] and stored[0] == stored[1]
    assert results[0][1] == 7 and [n for n, _ in results[0][2]] == [i + 1 for i in range(600) if i % 97 == 5]


def test_planner_statistics_refreshed_after_a_large_import(store, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import listener.importer

    engine, factory = store
    monkeypatch.setattr(listener.importer, "ANALYZE_AFTER", 10)  # the sample has 14 good lines
    import_file(factory, SAMPLES / "import_sample.jsonl", tagger=None)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            analysed = dict(conn.execute(text("SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                                              "WHERE relname IN ('posts', 'post_tags')")).all())
        assert analysed == {"posts": True, "post_tags": True}


def test_half_an_emoji_in_the_text_is_dropped_and_elsewhere_is_a_bad_line(sqlite_store, tmp_path: Path) -> None:  # noqa: ANN001
    # Exports of truncated posts can end in half a surrogate pair ("\ud83d"): not Unicode. In the
    # text it is dropped when cleaned; in another field the line is bad; the import goes on.
    _, factory = sqlite_store
    f = tmp_path / "cut.jsonl"
    f.write_text('{"text": "Pinautomaat in Warffum verdwijnt \\ud83d"}\n'
                 '{"text": "De huisarts in Ulrum stopt", "url": "https://example.org/\\udc00"}\n'
                 '{"text": "Dorpshuis in Ulrum zoekt vrijwilligers \\ud83d\\ude00"}\n', encoding="utf-8")
    res = CliRunner().invoke(main, ["--db", f"sqlite:///{tmp_path / 'listener.db'}", "import", str(f)])
    assert res.exit_code == 0, res.output
    assert "3 lines read, 2 good, 1 bad" in res.output
    assert "line 2:" in res.output and "field 'url' is not valid Unicode" in res.output
    with session_scope(factory) as s:
        texts = sorted(s.scalars(select(Post.text)))
    assert texts == ["Dorpshuis in Ulrum zoekt vrijwilligers \U0001f600", "Pinautomaat in Warffum verdwijnt"]
    again = CliRunner().invoke(main, ["--db", f"sqlite:///{tmp_path / 'listener.db'}", "import", str(f)])
    assert "0 posts stored, 2 already stored" in again.output  # the derived ids are stable


def _week_rows(factory, week: str) -> dict:  # noqa: ANN001
    from listener.store.models import WeeklyCount

    with session_scope(factory) as s:
        return {(r.area_kind, r.area, r.place, r.theme): (r.n_posts, r.n_probleem, r.n_initiatief)
                for r in s.scalars(select(WeeklyCount).where(WeeklyCount.week == week))}


def test_import_stores_the_weekly_counts_of_complete_weeks(store, real_tagger, tmp_path: Path) -> None:  # noqa: ANN001
    """After an import the report finds the counts of every complete week that got new posts
    (the same the report would count itself); the week that is still running is not stored."""
    from datetime import datetime, timedelta, timezone

    from listener.reports import overview
    from listener.reports.weeks import last_complete_week, week_of
    from listener.schedules import TZ

    _, factory = store
    last = last_complete_week()
    now = datetime.now(timezone.utc)
    texts = [
        "De pinautomaat in Ulrum verdwijnt en de inwoners van Het Hogeland moeten nu naar Winsum voor contant geld.",
        "Vrijwilligers in Ulrum beginnen een buurtbus zodat ouderen weer bij de huisarts in Winsum komen.",
        "Basisschool in Nieuw-Weerdinge sluit na de zomer, te weinig leerlingen in het dorp volgens gemeente Emmen.",
        "Dorpshuis in Ter Apel zoekt vrijwilligers voor de bar en de jeugdavonden, meld je aan via de website.",
    ]
    lines = []
    for i, (week, day) in enumerate([(last, 1), (last, 2), (last.shift(-2), 3), (last.shift(-2), 4)]):
        at = datetime.combine(week.monday + timedelta(days=day), datetime.min.time()).replace(hour=12)
        lines.append({"text": texts[i], "created_at": at.isoformat(), "external_id": f"w{i}"})
    lines.append({"text": texts[1] + " Dit gebeurt deze week.", "external_id": "now",
                  "created_at": now.isoformat()})  # the running week: not stored
    lines.append({"text": texts[2] + " Een oud bericht.", "external_id": "old",
                  "created_at": (now - timedelta(days=400)).isoformat()})
    f = tmp_path / "weeks.jsonl"
    f.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")

    res = import_file(factory, f, real_tagger)
    assert res.counts.new == 6
    assert res.weeks_counted == sorted([last.label, last.shift(-2).label])
    running = week_of(now.astimezone(TZ).date()).label
    old_week = week_of((now - timedelta(days=400)).astimezone(TZ).date()).label  # Amsterdam's day
    assert _week_rows(factory, running) == {}  # still running: left to the report
    assert _week_rows(factory, old_week) == {}  # not among the last 12 weeks: a report of it counts it
    for week in (last, last.shift(-2)):
        stored = _week_rows(factory, week.label)
        with session_scope(factory) as s:
            computed = overview.compute(s, [week])[0][week.label]
        assert stored and stored == {k: (c.n_posts, c.n_probleem, c.n_initiatief) for k, c in computed.items()}
    assert stored[("all", "", "", "")][0] == 2 and ("municipality", "GM0114", "", "onderwijs") in stored

    again = import_file(factory, f, real_tagger)  # nothing new: nothing counted
    assert again.counts.new == 0 and again.weeks_counted == []


def test_import_counts_raise_stored_counts_and_skip_running_weeks(store, real_tagger, tmp_path: Path) -> None:  # noqa: ANN001
    from datetime import datetime, timedelta, timezone

    from listener.reports.weekly import store_weekly_counts
    from listener.reports.weeks import last_complete_week

    _, factory = store
    week = last_complete_week().shift(-3)
    at = datetime.combine(week.monday + timedelta(days=2), datetime.min.time()).replace(hour=12, tzinfo=timezone.utc)
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps({"text": "De bibliotheek in Ulrum sluit, vrijwilligers van Het Hogeland nemen het over.",
                             "created_at": at.isoformat()}, ensure_ascii=False) + "\n", encoding="utf-8")
    import_file(factory, f, real_tagger)
    first = _week_rows(factory, week.label)
    assert first[("all", "", "", "")] == (1, 1, 1)  # a problem and an initiative
    f.write_text(json.dumps({"text": "De supermarkt in Ulrum gaat dicht, het dorp verliest zijn winkel.",
                             "created_at": (at + timedelta(hours=3)).isoformat()}, ensure_ascii=False) + "\n",
                 encoding="utf-8")
    res = import_file(factory, f, real_tagger)
    assert res.weeks_counted == [week.label]
    assert _week_rows(factory, week.label)[("all", "", "", "")] == (2, 2, 1)
    # A week that has not ended at ``now`` is left to the report.
    assert store_weekly_counts(factory, {week.label}, now=week.end - timedelta(seconds=1)) == []
    assert store_weekly_counts(factory, {week.label}, now=week.end) == [week.label]
