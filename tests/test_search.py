"""Full-text search on SQLite (FTS5) and PostgreSQL (tsvector): syntax, Dutch forms, filters, hostile input."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select, text, update

from listener.cli import main
from listener.errors import InputError
from listener.search import dutch_forms, fts5_match, parse_query, search
from listener.store.db import current_revision, head_revision, make_engine, open_store, session_scope, upgrade
from listener.store.models import AuditEntry, Post
from listener.store.queries import NewPost, store_posts
from listener.text import content_hash

POSTS = [
    # id, created, platform, text, themes, signals, municipality (code, name, place)
    ("s1", "2026-11-17T09:00:00+01:00", "rss", "De pinautomaat in Warffum verdwijnt, zegt de Geldmaat.",
     ["voorzieningen"], ["probleem"], ("GM1966", "Het Hogeland", "Warffum")),
    ("s2", "2026-11-18T09:00:00+01:00", "x", "Alle pinautomaten in de regio Emmen gaan weg!",
     ["voorzieningen"], ["probleem"], ("GM0114", "Emmen", None)),
    ("s3", "2026-11-19T09:00:00+01:00", "reddit", "Huisarts in Ter Apel stopt, er is geen opvolger gevonden.",
     ["zorg"], ["probleem"], ("GM1950", "Westerwolde", "Ter Apel")),
    ("s4", "2026-11-20T09:00:00+01:00", "rss", "De coöperatie in Klazienaveen zoekt vrijwilligers voor de buurtbus.",
     ["mobiliteit", "gemeenschap"], ["initiatief"], ("GM0114", "Emmen", "Klazienaveen")),
    ("s5", "2026-11-21T09:00:00+01:00", "rss", "Nieuwe huizen voor starters in Ter Apel; de tandarts opent een praktijk.",
     ["wonen", "zorg"], [], ("GM1950", "Westerwolde", "Ter Apel")),
    ("s6", "2026-11-10T09:00:00+01:00", "rss", "Geen bussen meer naar Emmen in het weekend; de buslijn stopt.",
     ["mobiliteit"], ["probleem"], ("GM0114", "Emmen", None)),
    ("s7", "2026-11-22T09:00:00+01:00", "rss", "Pinautomaat Warffum", ["voorzieningen"], [], ("GM1966", "Het Hogeland", "Warffum")),
    ("s8", "2026-11-12T09:00:00+01:00", "rss", "Pinautomaat Warffum", ["voorzieningen"], [], ("GM1966", "Het Hogeland", "Warffum")),
]
HOSTILE = ['"', "'", "*", "NEAR(", "NEAR(pinautomaat bus, 2)", "'; DROP TABLE posts; --", "((", "(pinautomaat", ")",
           "-", "--", "- -", "", "   ", "OR", "AND", "NOT", "pinautomaat OR", "OR OR OR", '"unterminated phrase',
           'text:pinautomaat', "pinautomaat^2", "{text}: bus", "😀", "中文 ümlaut", "\x00\x01", "a" * 400,
           "%", "_", "\\", "$1", "&|!<->:*", "posts_fts MATCH 'x'", "-pinautomaat", '-"geen opvolger"']


def _tags(themes, signals, muni):  # noqa: ANN001, ANN202
    rows = [{"kind": "theme", "tag": t, "label": None, "place": None, "matched": t, "evidence": None,
             "classifier_version": "t"} for t in themes]
    rows += [{"kind": "signal", "tag": s, "label": None, "place": None, "matched": s, "evidence": None,
              "classifier_version": "t"} for s in signals]
    code, name, place = muni
    rows.append({"kind": "municipality", "tag": code, "label": name, "place": place, "matched": place or name,
                 "evidence": None, "classifier_version": "t"})
    return tuple(rows)


def fill(factory) -> None:  # noqa: ANN001
    with session_scope(factory) as s:
        store_posts(s, [NewPost(source_id="src", platform=plat, external_id=eid, text=text, url=f"https://example.org/{eid}",
                                language="nl", created_at=datetime.fromisoformat(created), author_key=None,
                                content_hash=content_hash(text) + eid, raw=None, tags=_tags(th, sig, muni),
                                classifier_version="t")
                        for eid, created, plat, text, th, sig, muni in POSTS])


@pytest.fixture
def filled(store):  # noqa: ANN001, ANN201
    engine, factory = store
    fill(factory)
    return engine, factory


def _ids(factory, query: str, **kw) -> list[str]:  # noqa: ANN001
    with session_scope(factory) as s:
        hits = search(s, query, **kw)
        ext = dict(s.execute(select(Post.id, Post.external_id)).all())
    return [ext[h.id] for h in hits]


def test_dutch_forms() -> None:
    assert "pinautomaat" in dutch_forms("pinautomaten")[1]
    assert "automaten" in dutch_forms("automaat")[1]
    assert "huis" in dutch_forms("huizen")[1] and "school" in dutch_forms("scholen")[1]
    assert dutch_forms("emmen")[1] == []


def test_word_forms_find_each_other(filled) -> None:  # noqa: ANN001
    _, factory = filled
    assert set(_ids(factory, "pinautomaten")) == {"s1", "s2", "s7", "s8"}
    assert set(_ids(factory, "pinautomaat")) == {"s1", "s2", "s7", "s8"}
    assert "s5" in _ids(factory, "huis") and _ids(factory, "huizen") == ["s5"]
    assert set(_ids(factory, "cooperatie")) == {"s4"}  # diacritics do not matter


def test_phrase_or_exclusion(filled) -> None:  # noqa: ANN001
    _, factory = filled
    assert _ids(factory, '"geen opvolger"') == ["s3"]
    assert set(_ids(factory, "huisarts OR tandarts")) == {"s3", "s5"}
    assert set(_ids(factory, "pinautomaat -Emmen")) == {"s1", "s7", "s8"}
    assert set(_ids(factory, 'pinautomaat -"regio Emmen"')) == {"s1", "s7", "s8"}
    assert _ids(factory, '"gevonden opvolger"') == []  # order counts in a phrase


def test_ranking_then_newest_first_on_ties(filled) -> None:  # noqa: ANN001
    _, factory = filled
    ids = _ids(factory, "pinautomaat warffum")
    assert ids[:2] == ["s7", "s8"]  # short posts with both words rank first; equal text: newer first
    assert set(ids) == {"s1", "s7", "s8"}


def test_many_matches_rank_the_newest_stored_candidates(filled, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import listener.search

    _, factory = filled
    # Four posts match "pinautomaat", stored in the order s1, s2, s7, s8. With room for three
    # candidates, the three stored last are ranked, in the order they have among all four.
    everything = _ids(factory, "pinautomaat")
    assert set(everything) == {"s1", "s2", "s7", "s8"}
    monkeypatch.setattr(listener.search, "CANDIDATES", 3)
    assert _ids(factory, "pinautomaat", limit=3) == [i for i in everything if i != "s1"]
    # Filters apply before the candidates are counted: three Warffum posts are all candidates.
    assert set(_ids(factory, "pinautomaat", gemeenten=["GM1966"], limit=3)) == {"s1", "s7", "s8"}


def test_each_query_is_planned_for_its_own_words(filled) -> None:  # noqa: ANN001
    # On one long-lived connection psycopg prepares a statement after 5 runs, and PostgreSQL may
    # then keep one generic plan for any words; a rare and a common word need different plans
    # (at 1M posts 'gemeente' took 1.5 s on a generic plan, 22 ms on its own).
    engine, factory = filled
    wanted = {"pinautomaat": {"s1", "s2", "s7", "s8"}, '"geen opvolger"': {"s3"},
              "huisarts OR tandarts": {"s3", "s5"}, "pinautomaat -Emmen": {"s1", "s7", "s8"}}
    with session_scope(factory) as s:
        ext = dict(s.execute(select(Post.id, Post.external_id)).all())
        for _ in range(4):  # 16 searches on one connection
            for query, ids in wanted.items():
                assert {ext[h.id] for h in search(s, query)} == ids
        if engine.dialect.name == "postgresql":
            assert s.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"


def test_filters(filled) -> None:  # noqa: ANN001
    _, factory = filled
    assert set(_ids(factory, "pinautomaat", gemeenten=["GM0114"])) == {"s2"}
    assert set(_ids(factory, "", themes=["zorg"])) == {"s3", "s5"}
    assert _ids(factory, "", signals=["initiatief"]) == ["s4"]
    assert set(_ids(factory, "pinautomaat", platforms=["x"])) == {"s2"}
    since = datetime(2026, 11, 18, tzinfo=timezone.utc)
    assert set(_ids(factory, "pinautomaat", since=since)) == {"s2", "s7"}
    assert _ids(factory, "pinautomaat", until=datetime(2026, 11, 13, tzinfo=timezone.utc)) == ["s8"]
    assert len(_ids(factory, "", limit=3)) == 3
    assert _ids(factory, "")[0] == "s7"  # empty query: newest first


def test_hit_fields_and_snippet(filled) -> None:  # noqa: ANN001
    _, factory = filled
    with session_scope(factory) as s:
        hit = search(s, "buurtbus")[0]
    d = hit.as_dict()
    assert d["gemeente"] == "Emmen" and d["plaats"] == "Klazienaveen" and d["themas"] == "mobiliteit, gemeenschap"
    assert "«buurtbus»" in d["fragment"] and d["link"] == "https://example.org/s4" and d["datum"] == "2026-11-20"


def test_hostile_queries_never_break(filled) -> None:  # noqa: ANN001
    _, factory = filled
    for query in HOSTILE:
        with session_scope(factory) as s:
            hits = search(s, query, themes=["zorg"] if query == "%" else ())
            assert isinstance(hits, list), query
    with session_scope(factory) as s:
        assert s.scalar(select(func.count()).select_from(Post)) == len(POSTS)


def test_fts5_match_quotes_everything() -> None:
    m = fts5_match(parse_query('NEAR( "a""b" x*y -"z" OR'))
    assert "NEAR(" not in m and '"near"' in m and '""' not in m.replace('"" ', "")


def test_exclusion_only_lists_the_rest(filled) -> None:  # noqa: ANN001
    _, factory = filled
    assert set(_ids(factory, "-pinautomaat")) == {"s3", "s4", "s5", "s6"}


def test_too_long_query_is_a_one_line_error(filled, db_url: str) -> None:  # noqa: ANN001
    with pytest.raises(InputError):
        parse_query("x" * 600)
    res = CliRunner().invoke(main, ["--db", db_url, "search", "x" * 600])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1


def test_index_follows_updates_and_deletes(filled) -> None:  # noqa: ANN001
    _, factory = filled
    with session_scope(factory) as s:
        s.execute(update(Post).where(Post.external_id == "s3").values(text="De bakker sluit"))
        s.execute(delete(Post).where(Post.external_id == "s1"))
    assert _ids(factory, "opvolger") == []
    assert _ids(factory, "bakker") == ["s3"]
    assert set(_ids(factory, "pinautomaat")) == {"s2", "s7", "s8"}


def test_cli_formats_and_audit(filled, db_url: str) -> None:  # noqa: ANN001
    runner = CliRunner()
    res = runner.invoke(main, ["--db", db_url, "search", "pinautomaten", "--gemeente", "Het Hogeland", "--format", "jsonl"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert {r["link"] for r in rows} == {"https://example.org/s1", "https://example.org/s7", "https://example.org/s8"}
    res = runner.invoke(main, ["--db", db_url, "search", "'; DROP TABLE posts; --", "--format", "csv"])
    assert res.exit_code == 0 and res.output.startswith("id,datum,platform")
    res = runner.invoke(main, ["--db", db_url, "search", '"', "--format", "table"])
    assert res.exit_code == 0
    _, factory = filled
    with session_scope(factory) as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.command == "search").order_by(AuditEntry.id)))
    assert len(entries) == 3 and entries[0].filters["query"] == "pinautomaten" and entries[0].rows == 3
    assert entries[0].filters["gemeenten"] == ["GM1966"]


def test_migration_backfills_existing_posts(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0001")
        _, factory = open_store(db_url, create=False)
        fill(factory)
        upgrade(engine, "head")
        assert current_revision(engine) == head_revision()
        assert set(_ids(factory, "pinautomaat")) == {"s1", "s2", "s7", "s8"}
    finally:
        engine.dispose()
