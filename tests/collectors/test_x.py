"""X collector: the real tweepy Client talks to a local server shaped like /2/tweets/search/recent."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from listener.collectors.common import build_queries, quote_term
from listener.collectors.x import XCollector, XSource
from listener.config import parse_config
from listener.errors import ConfigError, CredentialsError, RateLimited, SourceError, SourceSkipped
from listener.models import Checkpoint, CursorState
from listener.privacy import author_key

PATH = "/2/tweets/search/recent"
TOKEN = "AAAAAAAAAAAAAAAAAAAAAGeheimeTokenVoorTests0123456789"
LIMITS = {"x-rate-limit-limit": "450", "x-rate-limit-remaining": "448", "x-rate-limit-reset": "1772442000"}


def src(**kw) -> XSource:
    return XSource(**{"id": "x-krimp", "kind": "x", "keywords": "krimp", **kw})


@pytest.fixture
def make(server, kit):
    def _make(**ctx_kw):
        env = ctx_kw.pop("env", {"X_BEARER_TOKEN": TOKEN})
        return XCollector(kit.ctx(env=env, **ctx_kw), api_base=server.url)
    return _make


def page(kit, name, status=200, headers=None):
    return kit.Reply.json(kit.fxj("x", name), status, {**LIMITS, **(headers or {})})


def test_without_token_the_source_is_skipped(make, kit):
    with pytest.raises(SourceSkipped, match=r"^source 'x-krimp': no X_BEARER_TOKEN in the environment"):
        kit.run(make(env={}), src())


def test_pages_expansions_and_cursor(server, kit, make):
    def answer(req):
        return page(kit, "search_page2.json" if req.q("next_token") else "search_page1.json")

    server.route(PATH, kit.Reply(body=answer))
    items = kit.run(make(), src())
    posts, cps, warns = kit.split(items)
    reqs = server.seen(PATH)
    assert len(reqs) == 2
    first = reqs[0]
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert first.headers["user-agent"].startswith("krimp-listener/test")
    assert first.q("query") == '(krimp OR "school sluit" OR dorpshuis OR leegstand) lang:nl -is:retweet'
    assert set(first.q("expansions").split(",")) == {"author_id", "geo.place_id"}
    assert {"created_at", "lang", "conversation_id", "public_metrics"} <= set(first.q("tweet.fields").split(","))
    assert first.q("max_results") == "100" and first.q("since_id") is None
    assert reqs[1].q("next_token") == "b26v89c19zqg8o3fpzbn1e0ffhxjiofzw6po136rvbnul"
    # The withheld tweet on page 2 is skipped.
    assert [p.external_id for p in posts] == ["1896101000000000003", "1896090000000000002",
                                              "1896080000000000001", "1896070000000000009"]
    p = posts[0]
    assert p.platform == "x" and p.language == "nl"
    assert p.created_at == datetime(2026, 3, 2, 8, 41, 12, tzinfo=timezone.utc)
    assert p.url == "https://x.com/i/web/status/1896101000000000003"
    assert p.author_key == author_key("x", "1498213001") and "henk" not in repr(p).lower()
    assert p.raw["place"] == {"full_name": "Veendam, Nederland", "country_code": "NL"}
    assert p.raw["metrics"]["like_count"] == 31
    assert posts[2].language is None  # "und"
    assert items[-1] == Checkpoint(cursor="1896101000000000003") and len(cps) == 1 and not warns


def test_next_run_honours_since_id(server, kit, make):
    server.route(PATH, page(kit, "empty.json"))
    items = kit.run(make(), src(), CursorState(cursor="1896101000000000003"))
    assert server.seen(PATH)[0].q("since_id") == "1896101000000000003"
    assert items == [Checkpoint()]  # nothing new: the cursor stays


def test_payload_without_expansions(server, kit, make):
    server.route(PATH, page(kit, "search_no_expansions.json"))
    posts, cps, _ = kit.split(kit.run(make(), src()))
    assert len(posts) == 2
    assert all(p.created_at is None and p.author_key is None and p.language is None for p in posts)
    assert cps[-1].cursor == "1896200000000000002"


def test_429_waits_with_the_injected_clock(server, kit, make):
    reset = int(kit.clock.now().timestamp()) + 60
    server.route(PATH, page(kit, "error_429.json", 429, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}),
                 page(kit, "search_no_expansions.json"))
    posts, _, _ = kit.split(kit.run(make(max_wait_s=120), src()))
    assert len(posts) == 2 and server.count(PATH) == 2
    assert kit.clock.slept == [61.0]


def test_429_defers_when_the_wait_is_too_long(server, kit, make):
    reset = int(kit.clock.now().timestamp()) + 900
    server.route(PATH, page(kit, "error_429.json", 429, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}))
    with pytest.raises(RateLimited, match=r"^source 'x-krimp': X rate limit reached; resets in 901s"):
        kit.run(make(max_wait_s=60), src())
    assert kit.clock.slept == [] and server.count(PATH) == 1


@pytest.mark.parametrize("status,name", [(401, "error_401.json"), (403, "error_403.json")])
def test_401_and_403_are_credentials_errors_without_the_token(server, kit, make, status, name):
    server.route(PATH, page(kit, name, status))
    with pytest.raises(CredentialsError) as ei:
        kit.run(make(), src())
    msg = str(ei.value)
    assert msg.startswith(f"source 'x-krimp': X refused the bearer token (HTTP {status})")
    assert TOKEN not in msg and "\n" not in msg


def test_server_error_and_malformed_body(server, kit, make):
    server.route(PATH, kit.Reply(503, b"Service Unavailable", {"Content-Type": "text/plain"}))
    with pytest.raises(SourceError, match=r"^source 'x-krimp': X answered HTTP 503$"):
        kit.run(make(), src())
    server.route(PATH, kit.Reply(200, b'{"data": [', {"Content-Type": "application/json"}))
    with pytest.raises(SourceError, match="not JSON"):
        kit.run(make(), src())


def test_timeout(server, kit, make):
    server.route(PATH, page(kit, "empty.json"), )
    server.routes[("GET", PATH)][0].delay = 1.0
    with pytest.raises(SourceError, match="X timed out after 0.2s"):
        kit.run(make(timeout_s=0.2), src())


def test_since_id_older_than_the_window_is_dropped_once(server, kit, make):
    def answer(req):
        if req.q("since_id"):
            return page(kit, "error_400_since_id.json", 400)
        return page(kit, "search_no_expansions.json")

    server.route(PATH, kit.Reply(body=answer))
    posts, cps, warns = kit.split(kit.run(make(), src(), CursorState(cursor="1")))
    assert len(posts) == 2 and "7-day window" in warns[0].message and cps[-1].cursor == "1896200000000000002"


def test_max_pages_stops_paging_and_warns_about_the_gap(server, kit, make):
    server.route(PATH, page(kit, "search_page1.json"))  # always another next_token
    posts, cps, warns = kit.split(kit.run(make(), src(max_pages=2), CursorState(cursor="1896000000000000000")))
    assert server.count(PATH) == 2 and len(posts) == 6
    assert any("max_pages=2" in w.message for w in warns)


def test_long_keyword_sets_become_several_queries(server, kit, make):
    phrases = [f"leegstaande boerderij nummer {i}" for i in range(40)]
    server.route(PATH, page(kit, "empty.json"))
    kit.run(make(), src(keywords=phrases))
    queries = [r.q("query") for r in server.seen(PATH)]
    assert len(queries) > 1 and all(len(q) <= 512 for q in queries)
    assert all(q.endswith(" lang:nl -is:retweet") for q in queries)
    joined = " ".join(queries)
    assert all(f'"{p}"' in joined for p in phrases)


def test_build_queries():
    assert quote_term("krimp") == "krimp" and quote_term("#krimp") == "#krimp"
    assert quote_term("school sluit") == '"school sluit"' and quote_term("OR") == '"OR"'
    assert build_queries(["krimp"], "lang:nl") == (["krimp lang:nl"], [])
    qs, dropped = build_queries(["a" * 600, "krimp"], "lang:nl")
    assert qs == ["krimp lang:nl"] and dropped == ["a" * 600]
    qs, _ = build_queries([f"woord{i}" for i in range(200)], "lang:nl -is:retweet", limit=100)
    assert all(len(q) <= 100 for q in qs) and sum(q.count("woord") for q in qs) == 200


def test_unknown_keyword_set(kit, make):
    with pytest.raises(SourceError, match=r"^source 'x-krimp': unknown keyword set 'bestaatniet' \(known: krimp\)"):
        kit.run(make(), src(keywords="bestaatniet"))


def test_config_validation():
    base = {"id": "x-krimp", "kind": "x"}
    with pytest.raises(ConfigError) as ei:
        parse_config({"sources": [base]}, Path("sources.yaml"))
    assert str(ei.value) == "sources.yaml: source 'x-krimp': field 'keywords' is missing"
    with pytest.raises(ConfigError, match=r"field 'max_results' Input should be greater than or equal to 10"):
        parse_config({"sources": [{**base, "keywords": "krimp", "max_results": 5}]}, Path("sources.yaml"))
    with pytest.raises(ConfigError, match="looks like a credential"):
        parse_config({"sources": [{**base, "keywords": "krimp", "bearer_token": "abc"}]}, Path("sources.yaml"))
    cfg = parse_config({"sources": [{**base, "keywords": ["krimp", "school sluit"], "max_pages": 3}]}, Path("s.yaml"))
    assert cfg.sources[0].query_extra == "lang:nl -is:retweet" and cfg.sources[0].max_pages == 3
