"""Generated RSS sources from a ``generate:`` block in sources.yaml."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from listener.collectors.generate import expand_generated, google_news_url, make_id
from listener.collectors.rss import RssSource
from listener.config import ID_RE, parse_config
from listener.errors import ConfigError

DATA = {
    "keyword_sets": {"alledaags": ["school sluit", "krimp", "dorpshuis dicht", "Krimp"]},
    "generate": [
        {"template": "mastodon_tag", "instance": "mastodon.nl", "tags": ["krimp", "#Groningen"], "schedule": "1h"},
        {"template": "google_news", "keyword_set": "alledaags", "schedule": "6h", "when": "7d"},
    ],
}


def test_expansion_is_deterministic_and_makes_rss_sources():
    a = expand_generated(DATA)
    b = expand_generated(DATA)
    assert a == b and "sources" not in DATA  # the input is left alone
    ids = [s["id"] for s in a["sources"]]
    assert ids == ["gen-mastodon-nl-krimp", "gen-mastodon-nl-groningen",
                   "gen-gnews-school-sluit", "gen-gnews-krimp", "gen-gnews-dorpshuis-dicht"]  # "Krimp" deduplicated
    tag = a["sources"][1]
    assert tag["url"] == "https://mastodon.nl/tags/Groningen.rss" and tag["platform"] == "mastodon"
    assert tag["kind"] == "rss" and tag["schedule"] == "1h"
    news = a["sources"][2]
    assert news["platform"] == "news" and news["schedule"] == "6h"
    q = parse_qs(urlsplit(news["url"]).query)
    assert q == {"q": ['"school sluit" when:7d'], "hl": ["nl"], "gl": ["NL"], "ceid": ["NL:nl"]}
    assert news["url"].startswith("https://news.google.com/rss/search?q=")


def test_parse_config_validates_generated_sources():
    cfg = parse_config(dict(DATA), Path("sources.yaml"))
    assert len(cfg.sources) == 5 and all(isinstance(s, RssSource) for s in cfg.sources)
    assert cfg.source("gen-gnews-krimp").parsed_schedule.text == "6h"


def test_explicit_sources_win():
    data = {**DATA, "sources": [
        {"id": "gen-gnews-krimp", "kind": "rss", "url": "https://example.org/eigen.xml", "enabled": False},
        {"id": "mijn-tag", "kind": "rss", "url": "https://mastodon.nl/tags/krimp.rss", "platform": "mastodon"},
    ]}
    cfg = parse_config(data, Path("sources.yaml"))
    ids = [s.id for s in cfg.sources]
    assert ids.count("gen-gnews-krimp") == 1 and "gen-mastodon-nl-krimp" not in ids
    assert cfg.source("gen-gnews-krimp").enabled is False


def test_site_filter_and_phrases():
    out = expand_generated({"generate": [{"template": "google_news", "phrases": ["zeeland krimp"], "site": "pzc.nl"}]})
    s = out["sources"][0]
    assert s["id"] == "gen-gnews-pzc-nl-zeeland-krimp"
    assert parse_qs(urlsplit(s["url"]).query)["q"] == ['site:pzc.nl "zeeland krimp"']


def test_ids_fit_the_id_pattern_even_for_long_or_odd_phrases():
    import re

    long_id = make_id("gen", "gnews", "leegstand " * 20)
    odd_id = make_id("gen", "gnews", "!!!")
    assert re.match(ID_RE, long_id) and len(long_id) <= 64
    assert re.match(ID_RE, odd_id) and odd_id != make_id("gen", "gnews", "???")
    assert make_id("gen", "gnews", "Café de Zon") == "gen-gnews-cafe-de-zon"
    assert google_news_url("krimp") == "https://news.google.com/rss/search?q=krimp&hl=nl&gl=NL&ceid=NL:nl"


@pytest.mark.parametrize("block,message", [
    ({"template": "nieuwsbrief"}, "field 'template': unknown template 'nieuwsbrief' (known: google_news, mastodon_tag)"),
    ({"template": "mastodon_tag"}, "field 'tags' is missing"),
    ({"template": "mastodon_tag", "tags": ["a b"]}, "field 'tags' 'a b' is not a hashtag"),
    ({"template": "google_news", "keyword_set": "bestaatniet"}, "field 'keyword_set': unknown keyword set 'bestaatniet'"),
    ({"template": "google_news"}, "give either 'keyword_set' or 'phrases'"),
    ({"template": "google_news", "phrases": ["x"], "sheduel": "1h"}, "field 'sheduel' is not a known field"),
])
def test_block_errors_are_one_line(block, message):
    with pytest.raises(ConfigError) as ei:
        parse_config({"keyword_sets": {"a": ["b"]}, "generate": [block]}, Path("sources.yaml"))
    msg = str(ei.value)
    assert msg.startswith("sources.yaml: generate #1") and message in msg and "\n" not in msg


def test_too_many_sources_per_block():
    with pytest.raises(ConfigError, match="at most 50 per block"):
        expand_generated({"generate": [{"template": "google_news", "phrases": [f"woord {i}" for i in range(51)]}]})


def test_bad_schedule_is_reported_on_the_generated_source():
    with pytest.raises(ConfigError, match=r"source 'gen-gnews-krimp': field 'schedule'"):
        parse_config({"generate": [{"template": "google_news", "phrases": ["krimp"], "schedule": "elke dag"}]},
                     Path("sources.yaml"))
