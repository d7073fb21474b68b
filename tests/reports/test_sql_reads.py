"""The report's SQL reads against plain Python over the same rows: counts, copies, dates across DST."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from listener.reports import overview, posts
from listener.reports.weeks import local_date, parse_week
from listener.store.db import session_scope
from listener.store.models import Post, PostTag
from listener.store.queries import NewPost, store_posts
from listener.text import content_hash

LEVELS = ("all", "municipality", "place", "region")


def _reference_counts(session, week, levels) -> dict:  # noqa: ANN001
    """The counting rules of docs/reports.md, spelled out in Python over all posts and tags."""
    when = {}
    for pid, digest, created, collected in session.execute(
            select(Post.id, Post.content_hash, Post.created_at, Post.collected_at)):
        at = created or collected
        if week.start <= at < week.end:
            when[pid] = digest
    rep: dict[str, int] = {}
    for pid, digest in sorted(when.items()):
        rep.setdefault(digest, pid)
    tags: dict[int, list] = {}
    for t in session.scalars(select(PostTag)):
        if t.post_id in rep.values():
            tags.setdefault(t.post_id, []).append(t)
    out: dict = {}
    for ts in tags.values():
        themes = {t.tag for t in ts if t.kind == "theme"}
        if not themes:
            continue
        signals = {t.tag for t in ts if t.kind == "signal"}
        areas = {("all", "", "")} if "all" in levels else set()
        for t in ts:
            if t.kind in ("municipality", "region") and t.kind in levels:
                areas.add((t.kind, t.tag, ""))
            if t.kind == "municipality" and t.place and "place" in levels:
                areas.add(("municipality", t.tag, t.place))
        for kind, area, place in areas:
            for theme in (*themes, ""):
                n, p, i = out.get((kind, area, place, theme), (0, 0, 0))
                out[(kind, area, place, theme)] = (n + 1, p + ("probleem" in signals), i + ("initiatief" in signals))
    return out


@pytest.mark.parametrize("levels", [LEVELS, ("all",), ("municipality", "region"), ("place",)])
def test_counts_in_sql_match_the_rules(golden, levels) -> None:  # noqa: ANN001
    _, factory = golden
    weeks = [parse_week(f"2026-W{n}") for n in range(40, 50)]
    with session_scope(factory) as s:
        counted, stored = overview.compute(s, weeks, levels)
        for wk in weeks:
            got = {k: (c.n_posts, c.n_probleem, c.n_initiatief) for k, c in counted[wk.label].items()}
            assert got == _reference_counts(s, wk, set(levels)), wk.label
        assert stored["2026-W47"] > 0 and stored["2026-W49"] == 0


def _post(ext: str, text: str, at: datetime, tags: tuple[dict, ...]) -> NewPost:
    return NewPost(source_id="t", platform="rss", external_id=ext, text=text, url=None, language="nl",
                   created_at=at, author_key=None, content_hash=content_hash(text), raw=None, tags=tags,
                   classifier_version="t")


def _tag(kind: str, tag: str, **kw: str) -> dict:
    return {"kind": kind, "tag": tag, "label": kw.get("label"), "place": kw.get("place"),
            "matched": kw.get("matched"), "evidence": None, "classifier_version": "t"}


def test_dates_follow_amsterdam_days_across_the_clock_change(store) -> None:  # noqa: ANN001
    _, factory = store
    wk = parse_week("2026-W43")  # summer time ends on Sunday 25 October 2026, 03:00 → 02:00
    utc = timezone.utc
    instants = [wk.start, wk.start + timedelta(microseconds=1),
                datetime(2026, 10, 24, 21, 59, 59, tzinfo=utc), datetime(2026, 10, 24, 22, 0, tzinfo=utc),
                datetime(2026, 10, 25, 0, 59, 59, tzinfo=utc), datetime(2026, 10, 25, 1, 0, 1, tzinfo=utc),
                datetime(2026, 10, 25, 22, 59, 59, 999999, tzinfo=utc), datetime(2026, 10, 20, 21, 59, 59, tzinfo=utc),
                datetime(2026, 10, 20, 22, 0, tzinfo=utc), wk.end]
    theme = (_tag("theme", "zorg", matched="huisarts"),)
    with session_scope(factory) as s:
        store_posts(s, [_post(f"d{i}", f"De huisarts stopt, bericht {i}", at, theme) for i, at in enumerate(instants)])
    with session_scope(factory) as s:
        df = posts.build(s, wk)
    inside = sorted((at for at in instants if wk.start <= at < wk.end), reverse=True)
    assert list(df["datum"]) == [local_date(at) for at in inside]
    assert list(df["datum"])[:2] == ["2026-10-25", "2026-10-25"] and list(df["datum"])[-1] == "2026-10-19"


def test_copies_wanted_posts_and_tag_columns(store) -> None:  # noqa: ANN001
    _, factory = store
    wk = parse_week("2026-W47")
    at = datetime(2026, 11, 18, 10, 0, tzinfo=timezone.utc)
    emmen = _tag("municipality", "GM0114", label="Emmen", place="Klazienaveen", matched="Klazienaveen")
    with session_scope(factory) as s:
        store_posts(s, [
            # the first copy has no theme: the second one stands for the text, counted twice over two wanted copies
            _post("a1", "Buurtbus rijdt niet meer", at, (emmen,)),
            _post("a2", "Buurtbus rijdt niet meer", at + timedelta(hours=1),
                  (_tag("signal", "probleem", matched="niet meer"), _tag("theme", "mobiliteit", matched="buurtbus"),
                   _tag("theme", "voorzieningen"), emmen, _tag("signal", "initiatief"), _tag("signal", "probleem"),
                   _tag("region", "Drenthe"), _tag("municipality", "GM0114", label="Emmen", place="Emmen"))),
            _post("a3", "Buurtbus rijdt niet meer", at + timedelta(hours=2), (_tag("theme", "mobiliteit"),)),
            _post("b1", "Huisarts in Assen stopt", at + timedelta(hours=3),
                  (_tag("theme", "zorg"), _tag("municipality", "GM0106", label="Assen"))),
        ])
    with session_scope(factory) as s:
        df = posts.build(s, wk)
        emmen_only = posts.build(s, wk, ["GM0114"])
        ini = posts.build(s, wk, signal="initiatief")
    assert list(df["tekst"]) == ["Huisarts in Assen stopt", "Buurtbus rijdt niet meer"]
    row = df.iloc[1].to_dict()
    assert row == {"datum": "2026-11-18", "platform": "rss", "bron": "t", "gemeente": "Emmen",
                   "plaats": "Klazienaveen, Emmen", "regio": "Drenthe", "themas": "voorzieningen, mobiliteit",
                   "signalen": "initiatief, probleem", "tekst": "Buurtbus rijdt niet meer", "link": "",
                   "bewijs": "probleem: niet meer; mobiliteit: buurtbus; Emmen: Klazienaveen", "aantal_keer": 2}
    assert list(emmen_only["tekst"]) == ["Buurtbus rijdt niet meer"] and list(emmen_only["aantal_keer"]) == [1]
    assert list(ini["tekst"]) == ["Buurtbus rijdt niet meer"] and list(ini["aantal_keer"]) == [1]
    with session_scope(factory) as s:
        counts, _ = overview.compute(s, [wk])
    # Counting takes the earliest copy of a text, which has no theme here: only Assen counts.
    assert {k: c.n_posts for k, c in counts[wk.label].items() if k[3] == ""} == {
        ("all", "", "", ""): 1, ("municipality", "GM0106", "", ""): 1}


def test_save_writes_only_the_differences(store) -> None:  # noqa: ANN001
    """weekly_counts after save(): exactly the given counts, with replace (diff) and as an upsert (COPY on
    PostgreSQL); rows that did not change keep their id and computed_at."""
    from listener.store.models import WeeklyCount

    _, factory = store
    week = parse_week("2026-W10")
    first = {("municipality", f"GM{i:04d}", "", theme): overview.Counts(i + 1, i % 2, 0)
             for i in range(300) for theme in ("zorg", "")}
    first[("municipality", "GM0001", "Dorp's \"Oost\"\t;", "zorg")] = overview.Counts(1, 0, 1)  # COPY escaping
    with session_scope(factory) as s:
        overview.save(s, week, first, replace=True)
    with session_scope(factory) as s:
        assert overview.load_stored(s, [week])[week.label] == first
        before = {(r.area, r.place, r.theme): (r.id, r.computed_at) for r in s.scalars(select(WeeklyCount))}
    second = dict(first)
    del second[("municipality", "GM0002", "", "zorg")]  # gone
    second[("municipality", "GM0003", "", "zorg")] = overview.Counts(99, 9, 9)  # changed
    second[("region", "Achterhoek", "", "")] = overview.Counts(5, 1, 2)  # new
    with session_scope(factory) as s:
        overview.save(s, week, second, replace=True)
    with session_scope(factory) as s:
        assert overview.load_stored(s, [week])[week.label] == second
        after = {(r.area, r.place, r.theme): (r.id, r.computed_at) for r in s.scalars(select(WeeklyCount))}
    assert after[("GM0004", "", "zorg")] == before[("GM0004", "", "zorg")]  # untouched
    assert after[("GM0003", "", "zorg")][0] == before[("GM0003", "", "zorg")][0]  # updated in place
    assert after[("GM0003", "", "zorg")][1] > before[("GM0003", "", "zorg")][1]
    # upsert (replace=False): raises, adds, keeps what is not given
    third = {("municipality", "GM0003", "", "zorg"): overview.Counts(100, 9, 9),
             ("municipality", "GM0500", "", ""): overview.Counts(1, 0, 0)}
    with session_scope(factory) as s:
        overview.save(s, week, third, replace=False)
    with session_scope(factory) as s:
        assert overview.load_stored(s, [week])[week.label] == {**second, **third}
        overview.save(s, week, {}, replace=True)
    with session_scope(factory) as s:
        assert overview.load_stored(s, [week]) == {}


def test_two_reports_save_the_same_new_week_at_once(store) -> None:  # noqa: ANN001
    """Both add the week's rows; the second waits for the first (PostgreSQL: row locks of the unique
    key) and its counts win, instead of failing on the unique constraint."""
    import threading

    engine, factory = store
    week = parse_week("2026-W11")
    first = {("municipality", f"GM{i:04d}", "", "zorg"): overview.Counts(1, 0, 0) for i in range(50)}
    second = {key: overview.Counts(2, 1, 0) for key in first}
    errors: list[BaseException] = []

    def other_report() -> None:
        try:
            with session_scope(factory) as s2:
                overview.save(s2, week, second, replace=True)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    s1 = factory()
    try:
        overview.save(s1, week, first, replace=True)
        s1.flush()
        if engine.dialect.name == "postgresql":  # SQLite has one writer at a time: the other waits anyway
            thread = threading.Thread(target=other_report)
            thread.start()
            thread.join(0.5)
            assert thread.is_alive()  # waiting for the first report's rows
            s1.commit()
            thread.join(30)
        else:
            s1.commit()
            other_report()
    finally:
        s1.close()
    assert errors == []
    with session_scope(factory) as s:
        assert overview.load_stored(s, [week])[week.label] == second


def _bus_post(external_id: str, text: str, created_at: datetime) -> NewPost:
    """A post of source rss-a tagged with the theme mobiliteit only."""
    return NewPost(source_id="rss-a", platform="rss", external_id=external_id, text=text, url=None, language="nl",
                   created_at=created_at, author_key=None, content_hash=content_hash(text), raw=None,
                   tags=({"kind": "theme", "tag": "mobiliteit", "label": None, "place": None, "matched": "bus",
                          "evidence": None, "classifier_version": "t"},), classifier_version="t")


def _set_stored_total(session, week, n: int) -> None:  # noqa: ANN001
    """Overwrite the week's stored total (all areas, all themes) behind the report's back."""
    from sqlalchemy import update

    from listener.store.models import WeeklyCount

    session.execute(update(WeeklyCount).where(WeeklyCount.week == week.label, WeeklyCount.area_kind == "all",
                                              WeeklyCount.theme == "").values(n_posts=n))


def test_the_report_week_is_counted_again_only_when_its_posts_changed(golden, tmp_path) -> None:  # noqa: ANN001
    """A stamp (the week's stored posts and their highest id) lets a second report skip counting its
    week; a post stored in the week, or one deleted from it, makes the report count it again."""
    from listener.config import parse_config
    from listener.retention import purge
    from listener.store.models import WeeklyCountStamp

    _, factory = golden
    week = parse_week("2026-W47")
    key = ("all", "", "", "")
    with session_scope(factory) as s:
        first = overview.window_counts(s, week)[week.label][key]
        assert overview.stamp_matches(s, week, overview.week_stamp(s, week))
        assert first.n_posts > 1
        # Tamper with the stored total: a report that trusts the stamp leaves it, one that counts mends it.
        _set_stored_total(s, week, 999)
    with session_scope(factory) as s:
        assert overview.window_counts(s, week)[week.label][key].n_posts == 999  # nothing changed: not counted

    with session_scope(factory) as s:  # a new post in the week
        store_posts(s, [_bus_post("late", "Laat bericht over de bus", datetime(2026, 11, 22, 20, tzinfo=timezone.utc))])
    with session_scope(factory) as s:
        counted = overview.window_counts(s, week)[week.label][key].n_posts
        assert counted == first.n_posts + 1 == _reference_counts(s, week, LEVELS)[key][0]

    # Retention deletes posts of the week: its stamp goes, and the next report counts again.
    cfg = parse_config({"sources": [{"id": "reddit-krimp", "kind": "rss", "url": "r.xml", "retention_days": 1}]},
                       tmp_path / "sources.yaml")
    with session_scope(factory) as s:
        _set_stored_total(s, week, 999)
    assert purge(factory, cfg, now=datetime(2026, 11, 30, tzinfo=timezone.utc)).deleted == {"reddit-krimp": 1}
    with session_scope(factory) as s:
        assert s.get(WeeklyCountStamp, week.label) is None
        assert overview.window_counts(s, week)[week.label][key].n_posts == _reference_counts(s, week, LEVELS)[key][0]


def test_an_earlier_week_is_raised_by_posts_that_came_in_after_it_was_counted(golden) -> None:  # noqa: ANN001
    """A post of last week collected after last week's report (a search collector brings posts of
    the last days) is in this week's comparison: the earlier week's stored counts are raised once."""
    _, factory = golden
    w47, w48 = parse_week("2026-W47"), parse_week("2026-W48")
    key = ("all", "", "", "mobiliteit")
    with session_scope(factory) as s:
        before = overview.window_counts(s, w47)[w47.label].get(key, overview.Counts()).n_posts
    with session_scope(factory) as s:
        store_posts(s, [_bus_post("late-w47", "Laat over de bus", datetime(2026, 11, 21, 20, tzinfo=timezone.utc))])
    with session_scope(factory) as s:
        window = overview.window_counts(s, w48)
        assert window[w47.label][key].n_posts == before + 1
        assert overview.stamp_matches(s, w47, overview.week_stamp(s, w47))  # up to date: not counted again
