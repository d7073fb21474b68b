"""`listener reclassify` re-tags stored posts with the real classifier after the vocabulary changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from listener.cli import main
from listener.config import parse_config
from listener.pipeline import Pipeline
from listener.reclassify import reclassify
from listener.store.db import session_scope
from listener.store.models import Post, PostTag
from listener.tagging import load_tagger

FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Dorpskrant</title>
<item><guid>a</guid><title>Huisarts in Winschoten stopt, er is geen opvolger</title></item>
<item><guid>b</guid><title>De knikkerbaan in het dorp verdwijnt, zeggen de kinderen</title></item>
<item><guid>c</guid><title>Vrijwilligers gezocht voor de buurtbus in de Achterhoek</title></item>
</channel></rss>"""

BUNDLED = Path(__file__).resolve().parent.parent / "keywords_nl.txt"


@pytest.fixture(scope="module")
def tagger():  # noqa: ANN201 - loading the classifier costs seconds; share it
    return load_tagger()


def _tags(factory) -> dict[str, set[tuple[str, str]]]:  # noqa: ANN001
    with session_scope(factory) as s:
        ids = dict(s.execute(select(Post.id, Post.external_id)).all())
        out: dict[str, set[tuple[str, str]]] = {ext: set() for ext in ids.values()}
        for pid, kind, tag in s.execute(select(PostTag.post_id, PostTag.kind, PostTag.tag)):
            out[ids[pid]].add((kind, tag))
    return out


def test_untagged_posts_get_tagged_then_only_outdated_ones_again(tmp_path: Path, store, tagger) -> None:
    (tmp_path / "feed.xml").write_text(FEED, encoding="utf-8")
    cfg = parse_config({"sources": [{"id": "dorp", "kind": "rss", "url": "feed.xml", "keep_irrelevant": True}]},
                       tmp_path / "sources.yaml")
    _, factory = store
    Pipeline(cfg, factory, tagger=None).run(only_due=False)  # a collector-only host: stored untagged
    assert all(not t for t in _tags(factory).values())

    res = reclassify(factory, tagger)
    assert (res.examined, res.version) == (3, tagger.version)
    tags = _tags(factory)
    assert {("theme", "zorg"), ("signal", "probleem"), ("municipality", "GM1895")} <= tags["a"]
    assert {("theme", "mobiliteit"), ("signal", "initiatief"), ("region", "Achterhoek")} <= tags["c"]
    assert not any(kind == "theme" for kind, _ in tags["b"])  # 'knikkerbaan' is not in the vocabulary
    with session_scope(factory) as s:
        assert set(s.scalars(select(PostTag.classifier_version))) == {tagger.version}
    assert reclassify(factory, tagger).examined == 0  # nothing is outdated

    # The analyst adds a word: a new classifier version, and the stored posts follow.
    words = tmp_path / "keywords_nl.txt"
    words.write_text(BUNDLED.read_text(encoding="utf-8").replace("[voorzieningen]\n", "[voorzieningen]\nknikkerbaan\n", 1),
                     encoding="utf-8")
    changed = load_tagger(str(words))
    assert changed.version != tagger.version
    res = reclassify(factory, changed)
    assert (res.examined, res.changed) == (3, 1)
    assert ("theme", "voorzieningen") in _tags(factory)["b"]


def test_cli_reclassify(tmp_path: Path, sqlite_store) -> None:
    (tmp_path / "feed.xml").write_text(FEED, encoding="utf-8")
    (tmp_path / "sources.yaml").write_text("sources:\n  - id: dorp\n    kind: rss\n    url: feed.xml\n",
                                           encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'l.db'}"
    base = ["--db", url, "--sources", str(tmp_path / "sources.yaml")]
    runner = CliRunner()
    assert runner.invoke(main, [*base, "db", "upgrade"]).exit_code == 0
    assert runner.invoke(main, [*base, "run", "--once", "--all"], env={"LISTENER_CLASSIFIER": "off"}).exit_code == 0
    out = runner.invoke(main, [*base, "reclassify"])
    assert out.exit_code == 0, out.output
    assert "3 posts re-tagged" in out.output


def _counts(factory, week: str) -> dict:  # noqa: ANN001
    from listener.store.models import WeeklyCount

    with session_scope(factory) as s:
        return {(r.area_kind, r.area, r.place, r.theme): r.n_posts
                for r in s.scalars(select(WeeklyCount).where(WeeklyCount.week == week))}


def test_reclassify_recounts_the_stored_weekly_counts_except_in_purged_weeks(tmp_path: Path, store, tagger) -> None:
    """A word taken out of the vocabulary: the weeks' stored counts follow (they go down), except
    in a week that retention has purged posts from, whose counts were made with those posts."""
    import json
    from datetime import datetime, timedelta

    from listener.importer import import_file
    from listener.reports.weeks import last_complete_week
    from listener.retention import purge

    _, factory = store
    words = tmp_path / "keywords_nl.txt"
    words.write_text(BUNDLED.read_text(encoding="utf-8").replace("[voorzieningen]\n", "[voorzieningen]\nknikkerbaan\n", 1),
                     encoding="utf-8")
    with_word = load_tagger(str(words))
    w1, w2 = last_complete_week(), last_complete_week().shift(-1)

    def post(week, day: int, text: str) -> str:  # noqa: ANN001
        at = datetime.combine(week.monday + timedelta(days=day), datetime.min.time()).replace(hour=12)
        return json.dumps({"text": text, "created_at": at.isoformat()}, ensure_ascii=False)

    knikker = "De knikkerbaan in Ulrum verdwijnt, zeggen de kinderen van het dorp."
    huisarts = "De huisarts in Ulrum stopt en er is geen opvolger."
    (tmp_path / "lang.jsonl").write_text("\n".join([post(w1, 1, knikker), post(w1, 2, huisarts),
                                                    post(w2, 1, knikker + " Nog steeds.")]) + "\n", encoding="utf-8")
    (tmp_path / "kort.jsonl").write_text(post(w2, 2, huisarts + " Ook hier.") + "\n", encoding="utf-8")
    import_file(factory, tmp_path / "lang.jsonl", with_word, source_id="lang")
    import_file(factory, tmp_path / "kort.jsonl", with_word, source_id="kort")
    assert _counts(factory, w1.label)[("all", "", "", "voorzieningen")] == 1
    before_w2 = _counts(factory, w2.label)
    assert before_w2[("all", "", "", "")] == 2

    cfg = parse_config({"sources": [{"id": "kort", "kind": "rss", "url": "k.xml", "retention_days": 1}]},
                       tmp_path / "sources.yaml")
    assert purge(factory, cfg).deleted == {"kort": 1}  # w2 loses a post; its counts stay

    res = reclassify(factory, tagger)  # the bundled vocabulary: no 'knikkerbaan'
    assert res.changed == 2 and res.weeks_recounted == sorted([w1.label, w2.label])
    after_w1 = _counts(factory, w1.label)
    assert ("all", "", "", "voorzieningen") not in after_w1 and after_w1[("all", "", "", "")] == 1
    assert _counts(factory, w2.label) == before_w2  # purged: only ever raised
    from listener.reports import overview

    with session_scope(factory) as s:  # both are up to date with their posts now (w2: at least what they give)
        assert overview.stamp_matches(s, w1, overview.week_stamp(s, w1))
        assert overview.stamp_matches(s, w2, overview.week_stamp(s, w2))
