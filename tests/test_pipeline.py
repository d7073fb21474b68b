"""The run loop: storing, idempotence, failure isolation, cursors that move only after commit."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, ClassVar, Iterator

import pytest
from sqlalchemy import func, select

from listener.collectors.base import register
from listener.collectors.rss import FeedGone, HttpStatusError
from listener.config import SourceBase, parse_config
from listener.models import Checkpoint, CursorState, Post
from listener.pipeline import Pipeline
from listener.store.db import session_scope
from listener.store.models import Post as PostRow
from listener.store.models import Run, SourceState

FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Dorpsnieuws</title>
<item><title>Pinautomaat in Warffum verdwijnt</title><link>https://example.org/1</link><guid>n1</guid>
<pubDate>Mon, 23 Nov 2026 10:00:00 +0100</pubDate>
<description>&lt;p&gt;De Geldmaat sluit. Vragen? Mail jan.jansen@example.nl of bel 06-12345678.&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;</description></item>
<item><title>Dorpshuis zoekt vrijwilligers</title><link>https://example.org/2</link><guid>n2</guid>
<pubDate>Tue, 24 Nov 2026 10:00:00 +0100</pubDate><description>Wie doet mee met de bardienst? @pietjepuk weet meer.</description></item>
<item><title>The village pub closes</title><link>https://example.org/3</link><guid>n3</guid>
<description>We are sad that the pub in the village is closing and there is nothing to do.</description></item>
</channel></rss>"""


class ScriptedSource(SourceBase):
    items: list[str] = []
    fail_after: int | None = None
    http_status: int | None = None  # answer like a feed host with this error status


@register("scripted")
class ScriptedCollector:
    """A collector of our own seam that yields a fixed script (stands in for a platform)."""

    kind: ClassVar[str] = "scripted"
    Config = ScriptedSource
    seen_cursors: ClassVar[list[CursorState]] = []
    after_post: ClassVar[Callable[[int], None] | None] = None  # called once the run loop has post i

    def __init__(self, ctx) -> None:  # noqa: ANN001
        self.ctx = ctx

    def collect(self, source: ScriptedSource, state: CursorState) -> Iterator[object]:
        self.seen_cursors.append(state)
        if source.http_status == 410:
            raise FeedGone(f"source '{source.id}': HTTP 410 Gone")
        if source.http_status:
            raise HttpStatusError(f"source '{source.id}': HTTP {source.http_status}", source.http_status)
        start = int(state.cursor or 0)
        for i, text in enumerate(source.items[start:], start=start):
            if source.fail_after is not None and i >= source.fail_after:
                raise RuntimeError("connection reset in the middle of a page")
            yield Post(platform="test", source_id=source.id, external_id=f"p{i}", text=text,
                       created_at=datetime(2026, 11, 20, tzinfo=timezone.utc))
            if self.after_post is not None:
                self.after_post(i)
            if (i + 1) % 2 == 0:
                yield Checkpoint(cursor=str(i + 1))
        yield Checkpoint(cursor=str(len(source.items)))


def _config(tmp_path: Path, sources: list[dict]) -> object:
    return parse_config({"sources": sources}, tmp_path / "sources.yaml")


def _count(factory) -> int:  # noqa: ANN001
    with session_scope(factory) as s:
        return s.scalar(select(func.count()).select_from(PostRow))


def test_rss_file_is_stored_cleaned_and_masked(tmp_path: Path, store) -> None:
    (tmp_path / "feed.xml").write_text(FEED, encoding="utf-8")
    cfg = _config(tmp_path, [{"id": "dorp", "kind": "rss", "url": "feed.xml"}])
    _, factory = store
    summary = Pipeline(cfg, factory, tagger=None).run(only_due=False)
    [res] = summary.results
    assert (res.status, res.fetched, res.new, res.skipped) == ("ok", 3, 2, 1)  # English post dropped
    with session_scope(factory) as s:
        texts = {p.external_id: p.text for p in s.scalars(select(PostRow))}
    assert "[e-mail]" in texts["n1"] and "[telefoon]" in texts["n1"]
    assert "jan.jansen" not in texts["n1"] and "12345678" not in texts["n1"]
    assert "alert" not in texts["n1"] and "<" not in texts["n1"]
    assert "@gebruiker" in texts["n2"] and "pietjepuk" not in texts["n2"]
    # A second run stores nothing new and says so.
    again = Pipeline(cfg, factory, tagger=None).run(only_due=False)
    assert (again.results[0].new, again.results[0].duplicate) == (0, 2)
    assert _count(factory) == 2


def test_one_failing_source_does_not_stop_the_others(tmp_path: Path, sqlite_store) -> None:
    (tmp_path / "feed.xml").write_text(FEED, encoding="utf-8")
    (tmp_path / "broken.xml").write_text("<rss><channel><item><title>x", encoding="utf-8")
    cfg = _config(tmp_path, [
        {"id": "ok", "kind": "rss", "url": "feed.xml"},
        {"id": "missing", "kind": "rss", "url": "nope.xml"},
        {"id": "crash", "kind": "scripted", "items": ["Het dorpshuis sluit"], "fail_after": 0},
    ])
    _, factory = sqlite_store
    summary = Pipeline(cfg, factory, tagger=None).run(only_due=False)
    status = {r.source_id: r.status for r in summary.results}
    assert status == {"ok": "ok", "missing": "failed", "crash": "failed"}
    assert summary.exit_code == 3
    assert _count(factory) == 2
    with session_scope(factory) as s:
        runs = {r.source_id: r for r in s.scalars(select(Run))}
        state = s.get(SourceState, "missing")
    assert runs["missing"].error and "nope.xml" in runs["missing"].error
    assert runs["crash"].error and "RuntimeError" in runs["crash"].error
    assert state.consecutive_failures == 1 and state.last_success_at is None


def test_cursor_moves_only_with_committed_posts(tmp_path: Path, store) -> None:
    items = [f"Bericht {i} over de buurtbus in het dorp" for i in range(5)]
    cfg = _config(tmp_path, [{"id": "s", "kind": "scripted", "items": items, "fail_after": 3}])
    _, factory = store
    first = Pipeline(cfg, factory, tagger=None).run(only_due=False)
    assert first.results[0].status == "failed"
    with session_scope(factory) as s:
        cursor = s.get(SourceState, "s").cursor
        stored = s.scalar(select(func.count()).select_from(PostRow))
    # Posts 0-2 were fetched and stored; the cursor only covers the checkpointed 0-1.
    assert cursor == "2" and stored == 3
    cfg2 = _config(tmp_path, [{"id": "s", "kind": "scripted", "items": items}])
    ScriptedCollector.seen_cursors.clear()
    second = Pipeline(cfg2, factory, tagger=None).run(only_due=False)
    assert ScriptedCollector.seen_cursors[0].cursor == "2"
    assert (second.results[0].new, second.results[0].duplicate) == (2, 1)  # p2 again: not duplicated
    assert _count(factory) == 5


def test_schedule_due_and_not_due(tmp_path: Path, sqlite_store) -> None:
    (tmp_path / "feed.xml").write_text(FEED, encoding="utf-8")
    cfg = _config(tmp_path, [{"id": "dorp", "kind": "rss", "url": "feed.xml", "schedule": "6h"}])
    _, factory = sqlite_store
    first = Pipeline(cfg, factory, tagger=None).run()
    assert [r.source_id for r in first.results] == ["dorp"]
    second = Pipeline(cfg, factory, tagger=None).run()
    assert second.results == [] and second.not_due == ["dorp"]
    forced = Pipeline(cfg, factory, tagger=None).run(["dorp"])
    assert [r.source_id for r in forced.results] == ["dorp"]


def test_many_sources_share_transactions_and_each_run_is_recorded_and_released(tmp_path: Path, store) -> None:
    # Batches, checkpoints and ends of runs of several sources are committed together; each
    # source's counts, cursor, run row and lease still come out as if it had run alone.
    items = [f"Bericht {i} over de buurtbus in het dorp" for i in range(7)]
    sources = [{"id": f"s{i:02d}", "kind": "scripted", "items": items, "languages": []} for i in range(12)]
    sources.append({"id": "broken", "kind": "scripted", "items": items, "fail_after": 5, "languages": []})
    cfg = parse_config({"settings": {"batch_size": 3, "concurrency": 4}, "sources": sources},
                       tmp_path / "sources.yaml")
    _, factory = store
    seen: list[str] = []
    summary = Pipeline(cfg, factory, tagger=None).run(only_due=False, on_result=lambda r: seen.append(r.source_id))
    done = {r.source_id: (r.status, r.fetched, r.new) for r in summary.results}
    assert done == {**{f"s{i:02d}": ("ok", 7, 7) for i in range(12)}, "broken": ("failed", 5, 5)}
    assert sorted(seen) == sorted(done)
    with session_scope(factory) as s:
        runs = {r.source_id: r for r in s.scalars(select(Run))}
        states = {st.source_id: st for st in s.scalars(select(SourceState))}
        assert s.scalar(select(func.count()).select_from(PostRow)) == 12 * 7 + 5
    for sid, (status, fetched, new) in done.items():
        assert (runs[sid].status, runs[sid].fetched, runs[sid].new) == (status, fetched, new)
        assert runs[sid].finished_at is not None and states[sid].lease_owner is None
    assert {states[f"s{i:02d}"].cursor for i in range(12)} == {"7"}
    # p4 was stored after the last checkpoint; the cursor covers only p0-p3.
    assert states["broken"].cursor == "4" and states["broken"].consecutive_failures == 1


def test_a_feed_gone_is_dead_at_once_and_one_answering_404_after_three_runs(tmp_path: Path, store) -> None:
    cfg = _config(tmp_path, [{"id": "gone", "kind": "scripted", "http_status": 410},
                             {"id": "missing", "kind": "scripted", "http_status": 404},
                             {"id": "fine", "kind": "scripted", "items": ["Het dorpshuis sluit"], "languages": []}])
    _, factory = store

    def states() -> dict[str, tuple[bool, int, bool]]:
        with session_scope(factory) as s:
            return {st.source_id: (st.dead, st.consecutive_failures, st.last_success_at is not None)
                    for st in s.scalars(select(SourceState))}

    first = Pipeline(cfg, factory, tagger=None).run(only_due=False)
    assert {r.source_id: r.status for r in first.results} == {"gone": "failed", "missing": "failed", "fine": "ok"}
    assert states() == {"gone": (True, 1, False), "missing": (False, 1, False), "fine": (False, 0, True)}
    for _ in range(2):
        again = Pipeline(cfg, factory, tagger=None).run(only_due=False)
        assert "gone" not in {r.source_id for r in again.results}  # dead sources are left out
    assert states()["missing"] == (True, 3, False)


def test_a_stop_request_ends_the_run_with_what_was_collected_stored(tmp_path: Path, store,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    items = [f"Bericht {i} over de buurtbus in het dorp" for i in range(6)]
    cfg = _config(tmp_path, [{"id": "s", "kind": "scripted", "items": items, "languages": []}])
    _, factory = store
    pipe = Pipeline(cfg, factory, tagger=None)
    monkeypatch.setattr(ScriptedCollector, "after_post", staticmethod(lambda i: pipe.stop.set() if i == 2 else None))
    [res] = pipe.run(only_due=False).results
    assert (res.status, res.new) == ("interrupted", 3) and "shutdown" in res.error
    with session_scope(factory) as s:
        state, run = s.get(SourceState, "s"), s.scalar(select(Run))
        assert s.scalar(select(func.count()).select_from(PostRow)) == 3  # p0-p2: the batch in hand
    assert state.cursor == "2" and state.lease_owner is None  # p2 is stored, but no checkpoint covered it
    assert (run.status, run.new) == ("interrupted", 3) and run.finished_at is not None


@pytest.mark.parametrize("languages,kept", [([], 3), (["en"], 1), (["nl", "fy"], 2)])
def test_source_languages(tmp_path: Path, sqlite_store, languages: list[str], kept: int) -> None:
    (tmp_path / "feed.xml").write_text(FEED, encoding="utf-8")
    cfg = _config(tmp_path, [{"id": "dorp", "kind": "rss", "url": "feed.xml", "languages": languages}])
    _, factory = sqlite_store
    res = Pipeline(cfg, factory, tagger=None).run(only_due=False).results[0]
    assert res.new == kept


def test_ids_and_links_that_name_the_author_are_not_stored_in_the_clear(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from listener.pipeline import IngestCounts, prepare

    monkeypatch.setenv("LISTENER_PSEUDONYM_KEY", "pipeline-test-key-0123456789")
    src = SourceBase(id="m", kind="rss")
    posts = [
        Post(platform="mastodon", source_id="m", external_id="https://dorp.social/users/jan/statuses/1",
             text="Het dorpshuis zoekt vrijwilligers voor de bar.", url="https://dorp.social/@jan/1"),
        Post(platform="bluesky", source_id="m", external_id="at://did:plc:abcdef/app.bsky.feed.post/3k",
             text="De bus rijdt niet meer naar ons dorp.", url="https://jan:geheim@example.nl/post/3k"),
        Post(platform="rss", source_id="m", external_id="n1", text="De school in het dorp gaat dicht."),
    ]
    rows = prepare(posts, src, None, IngestCounts())
    ids = [r.external_id for r in rows]
    assert ids[0].startswith("h:") and "jan" not in ids[0]
    assert ids[1].startswith("h:") and "did:" not in ids[1]
    assert ids[2] == "n1"  # an id that names nobody stays readable
    assert rows[1].url == "https://example.nl/post/3k"
    # Stable within a deployment, so the next run recognises the post as already stored.
    assert [r.external_id for r in prepare(posts, src, None, IngestCounts())] == ids
    monkeypatch.setenv("LISTENER_PSEUDONYM_KEY", "another-deployment-key-987654")
    assert prepare(posts[:1], src, None, IngestCounts())[0].external_id != ids[0]


def _refuse_poisoned_posts(engine) -> None:  # noqa: ANN001
    """A database-side rule that refuses some posts, as a column the data does not fit would."""
    from sqlalchemy import text

    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("CREATE TRIGGER refuse_poison BEFORE INSERT ON posts WHEN NEW.text LIKE '%GIFTIG%' "
                              "BEGIN SELECT RAISE(ABORT, 'giftig bericht'); END"))
        else:
            conn.execute(text("CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
                              "IF NEW.text LIKE '%GIFTIG%' THEN RAISE EXCEPTION 'giftig bericht' USING ERRCODE = '22000'; "
                              "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER refuse_poison BEFORE INSERT ON posts FOR EACH ROW "
                              "EXECUTE FUNCTION refuse_poison()"))


def test_posts_the_database_refuses_fail_their_source_only(tmp_path: Path, store) -> None:
    # The batches of many sources share a transaction; when the database refuses one source's
    # posts, the others are still stored, and the refused source loses nothing (its cursor stays).
    engine, factory = store
    _refuse_poisoned_posts(engine)
    items = [f"Bericht {i} over de buurtbus in het dorp" for i in range(7)]
    poisoned = [*items[:4], "Bericht GIFTIG over de buurtbus", *items[5:]]
    sources = [{"id": f"s{i:02d}", "kind": "scripted", "items": items, "languages": []} for i in range(12)]
    sources.append({"id": "poison", "kind": "scripted", "items": poisoned, "languages": []})
    cfg = parse_config({"settings": {"batch_size": 3, "concurrency": 4}, "sources": sources},
                       tmp_path / "sources.yaml")
    summary = Pipeline(cfg, factory, tagger=None).run(only_due=False)
    done = {r.source_id: (r.status, r.new) for r in summary.results}
    assert done.pop("poison")[0] == "failed"
    assert done == {f"s{i:02d}": ("ok", 7) for i in range(12)}
    assert summary.exit_code == 3
    with session_scope(factory) as s:
        run = s.scalars(select(Run).where(Run.source_id == "poison")).one()
        state = s.get(SourceState, "poison")
        stored = list(s.scalars(select(PostRow.external_id).where(PostRow.source_id == "poison")))
        assert s.scalar(select(func.count()).select_from(PostRow).where(PostRow.source_id != "poison")) == 12 * 7
    assert run.status == "failed" and "refused its posts" in run.error and "giftig bericht" in run.error
    assert state.consecutive_failures == 1 and state.lease_owner is None
    assert "p4" not in stored and int(state.cursor or 0) <= 4 and run.new == len(stored)
    # Once the post is fixed, the next run collects the rest from the cursor: nothing lost.
    fixed = parse_config({"sources": [{"id": "poison", "kind": "scripted", "items": items, "languages": []}]},
                         tmp_path / "sources.yaml")
    again = Pipeline(fixed, factory, tagger=None).run(["poison"])
    assert again.results[0].status == "ok"
    with session_scope(factory) as s:
        assert sorted(s.scalars(select(PostRow.external_id).where(PostRow.source_id == "poison"))) == \
            [f"p{i}" for i in range(7)]


def _weeks_counted(factory) -> set[str]:  # noqa: ANN001
    from listener.store.models import WeeklyCount

    with session_scope(factory) as s:
        return set(s.scalars(select(WeeklyCount.week).distinct()))


def test_a_run_stores_the_counts_of_ended_weeks_that_have_none(tmp_path: Path, store, real_tagger) -> None:
    """A store filled by collectors alone has the weekly counts a report reads, so the first
    report does not count twelve weeks from the posts; a week is counted from a day after it
    ended (late posts), only once, and only when the classifier tagged something."""
    from listener.reports import overview
    from listener.reports.weeks import parse_week

    (tmp_path / "feed.xml").write_text(FEED, encoding="utf-8")  # posts of Monday and Tuesday of 2026-W48
    _, factory = store
    cfg = _config(tmp_path, [{"id": "dorp", "kind": "rss", "url": "feed.xml"}])
    monday_after = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)  # W48 ended 8 hours ago: not yet
    first = Pipeline(cfg, factory, real_tagger, clock=lambda: monday_after).run(only_due=False)
    assert first.results[0].new == 1  # the pinautomaat; the dorpshuis post has no theme, one is English
    assert _weeks_counted(factory) == set()

    tuesday_after = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    cfg2 = _config(tmp_path, [{"id": "dorp2", "kind": "rss", "url": "feed.xml"}])  # the same posts again
    Pipeline(cfg2, factory, real_tagger, clock=lambda: tuesday_after).run(only_due=False)
    assert _weeks_counted(factory) == {"2026-W48"}
    week = parse_week("2026-W48")
    with session_scope(factory) as s:
        stored = overview.load_stored(s, [week])[week.label]
        computed = overview.compute(s, [week])[0][week.label]
    assert stored == computed and stored[("all", "", "", "")].n_posts == 1  # one copy of a text counts

    # Collector-only (no classifier): nothing tagged, nothing counted.
    (tmp_path / "w47.xml").write_text(FEED.replace("23 Nov", "16 Nov").replace("24 Nov", "17 Nov")
                                      .replace("<guid>n", "<guid>w47-"), encoding="utf-8")
    cfg3 = _config(tmp_path, [{"id": "dorp3", "kind": "rss", "url": "w47.xml"}])
    assert Pipeline(cfg3, factory, None, clock=lambda: tuesday_after).run(only_due=False).results[0].new == 2
    assert _weeks_counted(factory) == {"2026-W48"}


def test_a_week_whose_count_gives_nothing_is_not_counted_after_every_run(tmp_path: Path, store, real_tagger) -> None:
    """Only the first stored copy of a text counts; when that copy is untagged (a collector-only host
    stored it), the week has themed posts but nothing to store: it is counted once, not every run."""
    from listener.reports import weekly

    (tmp_path / "feed.xml").write_text(FEED, encoding="utf-8")
    _, factory = store
    Pipeline(_config(tmp_path, [{"id": "kaal", "kind": "rss", "url": "feed.xml"}]), factory, None).run(only_due=False)
    tuesday_after = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    tagged = Pipeline(_config(tmp_path, [{"id": "getagd", "kind": "rss", "url": "feed.xml"}]), factory, real_tagger,
                      clock=lambda: tuesday_after).run(only_due=False)
    assert tagged.results[0].new == 1 and _weeks_counted(factory) == set()  # counted, nothing to store
    assert weekly.refresh_weekly_counts(factory, tuesday_after) == []  # and not again


def test_a_run_raises_the_counts_of_a_recent_week_that_got_late_posts(tmp_path: Path, store, real_tagger) -> None:
    from listener.reports import overview
    from listener.reports.weeks import parse_week

    (tmp_path / "feed.xml").write_text(FEED, encoding="utf-8")  # a W48 post (the pinautomaat)
    _, factory = store
    tuesday_after = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    Pipeline(_config(tmp_path, [{"id": "a", "kind": "rss", "url": "feed.xml"}]), factory, real_tagger,
             clock=lambda: tuesday_after).run(only_due=False)
    week = parse_week("2026-W48")
    with session_scope(factory) as s:
        assert overview.load_stored(s, [week])[week.label][("all", "", "", "")].n_posts == 1
    late = FEED.replace("Pinautomaat in Warffum verdwijnt", "Bibliotheek in Warffum sluit").replace(
        "De Geldmaat sluit.", "De bieb gaat dicht.").replace("<guid>n", "<guid>late")
    (tmp_path / "late.xml").write_text(late, encoding="utf-8")
    wednesday = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
    Pipeline(_config(tmp_path, [{"id": "b", "kind": "rss", "url": "late.xml"}]), factory, real_tagger,
             clock=lambda: wednesday).run(only_due=False)
    with session_scope(factory) as s:
        assert overview.load_stored(s, [week])[week.label][("all", "", "", "")].n_posts == 2
