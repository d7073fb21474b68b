"""Reddit collector: real praw/prawcore against a local server shaped like oauth.reddit.com, and
the RSS fallback through the real RSS collector."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from listener.collectors.reddit import RedditCollector, RedditSource, parse_cursor
from listener.config import parse_config
from listener.errors import ConfigError, CredentialsError, RateLimited, SourceError
from listener.models import Checkpoint, CursorState
from listener.privacy import author_key

ENV = {"REDDIT_CLIENT_ID": "app-id-123", "REDDIT_CLIENT_SECRET": "geheim-secret-456",
       "REDDIT_USER_AGENT": "script:krimp-listener-test:0.1 (by /u/gemeente_test)"}
SEARCH = "/r/thenetherlands+Groningen+Netherlands/search/"
TOKEN = "/api/v1/access_token"
# High remaining: prawcore's rate limiter then never sleeps.
LIMITS = {"x-ratelimit-remaining": "995.0", "x-ratelimit-used": "5", "x-ratelimit-reset": "500"}


def src(**kw) -> RedditSource:
    return RedditSource(**{"id": "reddit-nl", "kind": "reddit", "keywords": ["krimp", "school sluit"],
                           "subreddits": ["thenetherlands", "r/Groningen", "/r/Netherlands"], **kw})


@pytest.fixture
def make(server, kit):
    def _make(env=ENV, **ctx_kw):
        return RedditCollector(kit.ctx(env=env, **ctx_kw), oauth_url=server.url, reddit_url=server.url,
                               rss_base=server.url)
    return _make


def listing(kit, name, status=200, headers=None):
    return kit.Reply.json(kit.fxj("reddit", name), status, {**LIMITS, **(headers or {})})


def serve_api(server, kit):
    server.route(TOKEN, kit.Reply.json(kit.fxj("reddit", "token.json")), method="POST")

    def search(req):
        return listing(kit, "search_page2.json" if req.q("after") else "search_page1.json")

    server.route(SEARCH, kit.Reply(body=search))
    server.route("/comments/1b9zk2q/", listing(kit, "comments_1b9zk2q.json"))


def test_search_pages_skips_removed_and_sets_the_cursor(server, kit, make):
    serve_api(server, kit)
    items = kit.run(make(), src())
    posts, cps, warns = kit.split(items)
    token_req = server.seen(TOKEN, "POST")[0]
    assert b"grant_type=client_credentials" in token_req.body
    assert token_req.headers["authorization"].startswith("Basic ")
    reqs = server.seen(SEARCH)
    assert len(reqs) == 2 and reqs[1].q("after") == "t3_1b9xw1a"
    r = reqs[0]
    assert r.q("q") == 'krimp OR "school sluit"' and r.q("sort") == "new" and r.q("restrict_sr") in ("True", "1", "true")
    assert r.headers["authorization"] == "bearer -fake-app-only-token"
    assert "krimp-listener/test" in r.headers["user-agent"]
    # removed (moderator) and [deleted] submissions are skipped
    assert [p.external_id for p in posts] == ["t3_1b9zk2q", "t3_1b9xw1a", "t3_1b9uu9b"]
    p = posts[0]
    assert p.platform == "reddit" and p.text.startswith("Mijn dorp in Oost-Groningen loopt leeg, wat kunnen we doen?\nSinds")
    assert p.created_at == datetime.fromtimestamp(1772437200, tz=timezone.utc)
    assert p.url == "https://www.reddit.com/r/thenetherlands/comments/1b9zk2q/mijn_dorp_in_oost-groningen_loopt_leeg,_/"
    assert p.author_key == author_key("reddit", "noorderling_88") and "noorderling" not in repr(p)
    assert p.raw["subreddit"] == "thenetherlands" and p.language is None
    assert posts[1].text == "Dorpshuis Nieuwolda zoekt bestuursleden"
    assert items[-1] == Checkpoint(cursor="1772437200:1b9zk2q") and not warns
    assert server.count("/comments/1b9zk2q/") == 0  # comments off by default


def test_comments_of_new_submissions(server, kit, make):
    serve_api(server, kit)
    posts, _, _ = kit.split(kit.run(make(), src(include_comments=True)))
    ids = [p.external_id for p in posts]
    assert ids[:2] == ["t3_1b9zk2q", "t1_kq1a001"]  # the comment follows its submission
    assert "t1_kq1a002" not in ids and "t1_kq1a003" not in ids  # [removed], [deleted]
    c = posts[1]
    assert c.text.startswith("Bij ons in Termunten") and c.raw["submission"] == "t3_1b9zk2q"
    assert c.author_key == author_key("reddit", "stadjer_77")


def test_cursor_is_honoured_on_the_next_run(server, kit, make):
    serve_api(server, kit)
    state = kit.state_after(kit.run(make(), src()))
    assert parse_cursor(state.cursor) == (1772437200.0, int("1b9zk2q", 36))
    server.requests.clear()
    server.hits[("GET", SEARCH)] = 0
    items = kit.run(make(), src(), state)
    assert items == [Checkpoint()]  # the newest item is the cursor: stop at once, keep the cursor
    assert server.count(SEARCH) == 1


def test_a_newer_item_only(server, kit, make):
    serve_api(server, kit)
    posts, cps, _ = kit.split(kit.run(make(), src(), CursorState(cursor="1772430000:1b9xw1a")))
    assert [p.external_id for p in posts] == ["t3_1b9zk2q"] and cps[-1].cursor == "1772437200:1b9zk2q"


def test_429_waits_or_defers(server, kit, make):
    server.route(TOKEN, kit.Reply.json(kit.fxj("reddit", "token.json")), method="POST")
    busy = kit.Reply.json({"message": "Too Many Requests", "error": 429}, 429,
                          {"x-ratelimit-remaining": "0", "x-ratelimit-used": "1000", "x-ratelimit-reset": "30"})
    server.route(SEARCH, busy, listing(kit, "search_page2.json"))
    posts, _, _ = kit.split(kit.run(make(max_wait_s=60), src()))
    assert len(posts) == 1 and kit.clock.slept == [31.0]
    server.route(SEARCH, busy)
    with pytest.raises(RateLimited, match=r"^source 'reddit-nl': Reddit rate limit reached; resets in 31s"):
        kit.run(make(max_wait_s=10), src())


def test_an_exhausted_quota_paces_with_the_injected_clock_or_defers(server, kit, make):
    serve_api(server, kit)
    spent = {"x-ratelimit-remaining": "0", "x-ratelimit-used": "1000", "x-ratelimit-reset": "200"}
    server.route(SEARCH, listing(kit, "search_page1.json", headers=spent), listing(kit, "search_page2.json"))
    posts, _, _ = kit.split(kit.run(make(max_wait_s=300), src()))
    assert len(posts) == 3 and len(kit.clock.slept) == 1 and 199 <= kit.clock.slept[0] <= 200
    server.route(SEARCH, listing(kit, "search_page1.json", headers=spent), listing(kit, "search_page2.json"))
    with pytest.raises(RateLimited, match=r"^source 'reddit-nl': Reddit rate limit reached; resets in 200s"):
        kit.run(make(max_wait_s=30), src())


def test_401_on_the_token_is_a_credentials_error(server, kit, make):
    server.route(TOKEN, kit.Reply.json({"message": "Unauthorized", "error": 401}, 401), method="POST")
    with pytest.raises(CredentialsError) as ei:
        kit.run(make(), src())
    msg = str(ei.value)
    assert msg.startswith("source 'reddit-nl': Reddit refused the app credentials")
    assert "geheim" not in msg and "app-id-123" not in msg


def test_private_and_missing_subreddits(server, kit, make):
    server.route(TOKEN, kit.Reply.json(kit.fxj("reddit", "token.json")), method="POST")
    server.route(SEARCH, kit.Reply.json({"reason": "private", "message": "Forbidden", "error": 403}, 403, LIMITS))
    with pytest.raises(SourceError, match="403 .a private, banned or quarantined subreddit"):
        kit.run(make(), src())
    server.route(SEARCH, kit.Reply.json({"message": "Not Found", "error": 404}, 404, LIMITS))
    with pytest.raises(SourceError, match="does not exist|HTTP 404"):
        kit.run(make(), src())


def test_malformed_listing(server, kit, make):
    server.route(TOKEN, kit.Reply.json(kit.fxj("reddit", "token.json")), method="POST")
    server.route(SEARCH, kit.Reply(200, b"<html>onderhoud</html>", {"Content-Type": "text/html", **LIMITS}))
    with pytest.raises(SourceError, match=r"^source 'reddit-nl': Reddit"):
        kit.run(make(), src())


def test_without_credentials_the_public_rss_search_is_used(server, kit, make):
    path = "/r/thenetherlands+Groningen+Netherlands/search.rss"
    server.route(path, kit.Reply(200, kit.fx("reddit", "search.rss"),
                                 {"Content-Type": "application/atom+xml; charset=UTF-8", "ETag": '"r1"'}))
    items = kit.run(make(env={}), src())
    posts, cps, warns = kit.split(items)
    assert len(warns) == 1 and "public search RSS" in warns[0].message
    req = server.seen(path)[0]
    assert req.q("q") == 'krimp OR "school sluit"' and req.q("restrict_sr") == "1" and req.q("sort") == "new"
    assert [p.external_id for p in posts] == ["t3_1b9zk2q", "t3_1b9xw1a"]  # same ids as the API
    assert all(p.platform == "reddit" and p.source_id == "reddit-nl" for p in posts)
    assert posts[0].text == ("Mijn dorp in Oost-Groningen loopt leeg, wat kunnen we doen? "
                             "Sinds de school dicht is vertrekken de jonge gezinnen.")
    assert posts[1].text == "Dorpshuis Nieuwolda zoekt bestuursleden"
    assert all("/u/" not in p.text and "submitted by" not in p.text for p in posts)
    assert cps[-1].etag == '"r1"'
    assert not server.seen(TOKEN, "POST")


def test_config_validation():
    base = {"id": "reddit-nl", "kind": "reddit", "keywords": "krimp"}
    with pytest.raises(ConfigError) as ei:
        parse_config({"sources": [base]}, Path("sources.yaml"))
    assert str(ei.value) == "sources.yaml: source 'reddit-nl': field 'subreddits' is missing"
    with pytest.raises(ConfigError, match=r"field 'subreddits' .*'thenetherlands/new' is not a subreddit name"):
        parse_config({"sources": [{**base, "subreddits": ["thenetherlands/new"]}]}, Path("sources.yaml"))
    with pytest.raises(ConfigError, match="field 'subreddits'"):
        parse_config({"sources": [{**base, "subreddits": []}]}, Path("sources.yaml"))
    with pytest.raises(ConfigError, match="looks like a credential"):
        parse_config({"sources": [{**base, "subreddits": ["Drenthe"], "client_secret": "x"}]}, Path("sources.yaml"))
