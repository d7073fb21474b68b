"""Bluesky collector: the real atproto Client (httpx) against a local XRPC server."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from listener.collectors.bluesky import BlueskyCollector, BlueskySource
from listener.config import parse_config
from listener.errors import ConfigError, CredentialsError, RateLimited, SourceError, SourceSkipped
from listener.models import Checkpoint, CursorState
from listener.privacy import author_key

LOGIN = "/xrpc/com.atproto.server.createSession"
SEARCH = "/xrpc/app.bsky.feed.searchPosts"
FEED = "/xrpc/app.bsky.feed.getAuthorFeed"
ENV = {"BLUESKY_HANDLE": "luisteraar.bsky.social", "BLUESKY_APP_PASSWORD": "abcd-efgh-ijkl-mnop"}


@pytest.fixture
def make(server, kit):
    def _make(env=ENV, **ctx_kw):
        return BlueskyCollector(kit.ctx(env=env, **ctx_kw), pds_url=server.url, public_url=server.url)
    return _make


def src(**kw) -> BlueskySource:
    return BlueskySource(**{"id": "bsky-krimp", "kind": "bluesky", **kw})


def serve_search(server, kit):
    server.route(LOGIN, kit.Reply.json(kit.fxj("bluesky", "session.json")), method="POST")

    def answer(req):
        return kit.Reply.json(kit.fxj("bluesky", "search_krimp_page2.json" if req.q("cursor") else "search_krimp_page1.json"))

    server.route(SEARCH, kit.Reply(body=answer))


def test_search_with_login_pages_and_cursor(server, kit, make):
    serve_search(server, kit)
    items = kit.run(make(), src(keywords=["krimp"]))
    posts, cps, warns = kit.split(items)
    login = server.seen(LOGIN, "POST")[0]
    assert b'"identifier":"luisteraar.bsky.social"' in login.body.replace(b" ", b"")
    reqs = server.seen(SEARCH)
    assert len(reqs) == 2 and reqs[1].q("cursor") == "4"
    r = reqs[0]
    assert r.q("q") == "krimp" and r.q("lang") == "nl" and r.q("sort") == "latest" and r.q("since") is None
    assert r.headers["authorization"].startswith("Bearer ey")
    assert r.headers["user-agent"].startswith("krimp-listener/test")
    # the author labelled !no-unauthenticated is left out
    assert [p.external_id.rsplit("/", 1)[-1] for p in posts] == ["3lpk2u6qo222m", "3lpk2t1aaaa2x", "3lpk2r8cccc2z",
                                                                 "3lpk2m0dddd22"]
    p = posts[0]
    assert p.platform == "bluesky" and p.language == "nl"
    assert p.external_id == "at://did:plc:aaaabbbbccccddddeeeeffff/app.bsky.feed.post/3lpk2u6qo222m"
    assert p.url == "https://bsky.app/profile/did:plc:aaaabbbbccccddddeeeeffff/post/3lpk2u6qo222m"
    assert p.created_at == datetime(2026, 3, 2, 8, 10, 9, 561858, tzinfo=timezone.utc)
    assert p.author_key == author_key("bluesky", "did:plc:aaaabbbbccccddddeeeeffff")
    assert "marleen" not in repr(p).lower()
    assert posts[1].language is None and posts[1].raw["link"] == "https://www.rtv-noordoost.example/nieuws/1009"
    assert posts[3].language == "nl"  # langs ["nl", "en"]
    assert items[-1] == Checkpoint(cursor="2026-03-02T08:10:09.561858Z") and not warns


def test_next_run_sends_since_and_drops_what_was_seen(server, kit, make):
    serve_search(server, kit)
    posts, cps, _ = kit.split(kit.run(make(), src(keywords=["krimp"]), CursorState(cursor="2026-03-02T07:58:00.000000Z")))
    assert server.seen(SEARCH)[0].q("since") == "2026-03-02T07:58:00.000000Z"
    assert [p.external_id.rsplit("/", 1)[-1] for p in posts] == ["3lpk2u6qo222m", "3lpk2t1aaaa2x"]
    assert cps[-1].cursor == "2026-03-02T08:10:09.561858Z"
    server.route(SEARCH, kit.Reply.json(kit.fxj("bluesky", "search_empty.json")))
    assert kit.run(make(), src(keywords=["krimp"]), CursorState(cursor=cps[-1].cursor)) == [Checkpoint()]


def test_keyword_set_by_name_is_one_query_per_phrase(server, kit, make):
    server.route(LOGIN, kit.Reply.json(kit.fxj("bluesky", "session.json")), method="POST")
    server.route(SEARCH, kit.Reply.json(kit.fxj("bluesky", "search_empty.json")))
    kit.run(make(), src(keywords="krimp"))
    assert [r.q("q") for r in server.seen(SEARCH)] == ["krimp", '"school sluit"', "dorpshuis", "leegstand"]


def test_without_login_author_feeds_still_work(server, kit, make):
    def feed(req):
        name = "author_feed_page2.json" if req.q("cursor") else "author_feed_rtvnoordoost.json"
        return kit.Reply.json(kit.fxj("bluesky", name))

    server.route(FEED, kit.Reply(body=feed))
    items = kit.run(make(env={}), src(keywords=["krimp"], accounts=["@rtvnoordoost.bsky.social"]))
    posts, cps, warns = kit.split(items)
    assert "search needs BLUESKY_HANDLE" in warns[0].message and not server.seen(LOGIN, "POST")
    req = server.seen(FEED)[0]
    assert req.q("actor") == "rtvnoordoost.bsky.social" and req.q("filter") == "posts_no_replies"
    assert "authorization" not in req.headers
    texts = [p.text for p in posts]
    assert "Gerepost: de huisarts in Nieuwe Pekela stopt." not in texts  # reposts are someone else's
    assert texts[:2] == ["Gemeente Oldambt sluit gemeentehuis in Finsterwolde", "Wiekeboer: ‘Us skoalle moat iepen bliuwe’"]
    assert posts[1].language == "fy"
    assert cps[-1].cursor == "2026-03-02T09:00:00.000000Z"
    # next run: the first page reaches the cursor, so no second page
    server.requests.clear()
    posts, _, _ = kit.split(kit.run(make(env={}), src(accounts=["rtvnoordoost.bsky.social"]), CursorState(cursor=cps[-1].cursor)))
    assert posts == [] and len(server.seen(FEED)) == 1


def test_search_only_without_login_is_skipped(make, kit):
    with pytest.raises(SourceSkipped, match="Bluesky search needs BLUESKY_HANDLE and BLUESKY_APP_PASSWORD"):
        kit.run(make(env={}), src(keywords=["krimp"]))


def test_wrong_app_password(server, kit, make):
    server.route(LOGIN, kit.Reply.json(kit.fxj("bluesky", "error_auth.json"), 401), method="POST")
    with pytest.raises(CredentialsError) as ei:
        kit.run(make(), src(keywords=["krimp"]))
    assert str(ei.value).startswith("source 'bsky-krimp': Bluesky refused the login")
    assert "abcd-efgh" not in str(ei.value)


def test_429_waits_or_defers(server, kit, make):
    server.route(LOGIN, kit.Reply.json(kit.fxj("bluesky", "session.json")), method="POST")
    reset = int(kit.clock.now().timestamp()) + 100
    busy = kit.Reply.json(kit.fxj("bluesky", "error_429.json"), 429,
                          {"RateLimit-Limit": "3000", "RateLimit-Remaining": "0", "RateLimit-Reset": str(reset)})
    server.route(SEARCH, busy, kit.Reply.json(kit.fxj("bluesky", "search_krimp_page2.json")))
    posts, _, _ = kit.split(kit.run(make(max_wait_s=300), src(keywords=["krimp"])))
    assert len(posts) == 1 and kit.clock.slept == [101.0]
    later = str(int(kit.clock.now().timestamp()) + 100)
    server.route(SEARCH, kit.Reply.json(kit.fxj("bluesky", "error_429.json"), 429, {"RateLimit-Reset": later}))
    with pytest.raises(RateLimited, match=r"^source 'bsky-krimp': Bluesky rate limit reached"):
        kit.run(make(max_wait_s=5), src(keywords=["krimp"]))


def test_server_error_malformed_and_timeout(server, kit, make):
    server.route(FEED, kit.Reply.json({"error": "InternalServerError", "message": "Internal Server Error"}, 500))
    with pytest.raises(SourceError, match=r"^source 'bsky-krimp': Bluesky getAuthorFeed failed: 500"):
        kit.run(make(env={}), src(accounts=["rtvnoordoost.bsky.social"]))
    server.route(FEED, kit.Reply(200, b"<html>onderhoud</html>", {"Content-Type": "text/html"}))
    with pytest.raises(SourceError, match="not JSON"):
        kit.run(make(env={}), src(accounts=["rtvnoordoost.bsky.social"]))
    server.route(FEED, kit.Reply(200, b'{"feed": [', {"Content-Type": "application/json"}))
    with pytest.raises(SourceError, match=r"^source 'bsky-krimp': Bluesky"):
        kit.run(make(env={}), src(accounts=["rtvnoordoost.bsky.social"]))
    server.route(FEED, kit.Reply.json({"feed": []}, delay=1.0))
    with pytest.raises(SourceError, match="timed out after 0.2s"):
        kit.run(make(env={}, timeout_s=0.2), src(accounts=["rtvnoordoost.bsky.social"]))


def test_config_validation():
    base = {"id": "bsky", "kind": "bluesky"}
    with pytest.raises(ConfigError, match="give 'keywords' or 'accounts'"):
        parse_config({"sources": [base]}, Path("sources.yaml"))
    with pytest.raises(ConfigError, match=r"^sources.yaml: source 'bsky': field 'accounts' .*'gemeente oldambt' is not"):
        parse_config({"sources": [{**base, "accounts": ["gemeente oldambt"]}]}, Path("sources.yaml"))
    with pytest.raises(ConfigError, match="looks like a credential"):
        parse_config({"sources": [{**base, "accounts": ["a.bsky.social"], "app_password": "x"}]}, Path("sources.yaml"))
    cfg = parse_config({"keyword_sets": {"krimp": ["krimp"]},
                        "sources": [{**base, "keywords": "krimp", "accounts": ["did:plc:abc123"]}]}, Path("s.yaml"))
    assert cfg.sources[0].search_lang == "nl"
