"""Mastodon collector: real Mastodon.py against a local server shaped like a Mastodon instance."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from listener.collectors.mastodon import MastodonCollector, MastodonSource
from listener.config import parse_config
from listener.errors import ConfigError, CredentialsError, RateLimited, SourceError
from listener.models import Checkpoint, CursorState
from listener.privacy import author_key

TAG = "/api/v1/timelines/tag/krimp"
SEARCH = "/api/v2/search"
HEADERS = {"x-ratelimit-limit": "300", "x-ratelimit-remaining": "298"}


@pytest.fixture
def make(server, kit):
    def _make(env=None, **ctx_kw):
        return MastodonCollector(kit.ctx(env=env or {}, **ctx_kw), scheme="http")
    return _make


def src(server, **kw) -> MastodonSource:
    return MastodonSource(**{"id": "mastodon-nl", "kind": "mastodon", "instance": server.host,
                             "hashtags": ["#krimp"], **kw})


def serve_tag(server, kit):
    def answer(req):
        if req.q("max_id") == "113988000000000003":
            return kit.Reply.json(kit.fxj("mastodon", "tag_krimp_page2.json"), headers=HEADERS)
        if req.q("max_id"):
            return kit.Reply.json([], headers=HEADERS)
        link = (f'<{server.url}{TAG}?limit=40&max_id=113988000000000003>; rel="next", '
                f'<{server.url}{TAG}?limit=40&min_id=113990000000000005>; rel="prev"')
        return kit.Reply.json(kit.fxj("mastodon", "tag_krimp_page1.json"), headers={**HEADERS, "Link": link})

    server.route(TAG, kit.Reply(body=answer))


def test_hashtag_timeline_pages_and_cursor(server, kit, make):
    serve_tag(server, kit)
    items = kit.run(make(), src(server))
    posts, cps, warns = kit.split(items)
    reqs = server.seen(TAG)
    assert reqs[0].q("limit") == "40" and reqs[0].q("since_id") is None
    assert reqs[1].q("max_id") == "113988000000000003"
    assert reqs[0].headers["user-agent"].startswith("krimp-listener/test")
    assert "authorization" not in reqs[0].headers  # public timeline, no token
    # the followers-only status is skipped
    assert [p.raw["id"] for p in posts] == ["113990000000000005", "113989000000000004", "113988000000000003",
                                            "113979000000000001"]
    p = posts[0]
    assert p.platform == "mastodon" and p.language == "nl"
    assert p.text == ("De bibliotheek in #Appingedam gaat terug naar twee dagen per week. "
                      "Weer een voorziening minder. #krimp")
    assert p.external_id == "https://mastodon.nl/users/ellen/statuses/113990000000000005"
    assert p.url == "https://mastodon.nl/@ellen/113990000000000005"
    assert p.created_at == datetime(2026, 3, 2, 8, 30, 11, tzinfo=timezone.utc)
    assert p.author_key == author_key("mastodon", f"ellen@{server.host}")
    assert posts[1].language == "fy" and posts[1].text.startswith("Doarpshûs\nUs doarpshûs yn Wânswert")
    assert posts[2].language is None and "Eindelijk iets positiefs" in posts[2].text
    assert posts[2].author_key == author_key("mastodon", "pieter@mastodon.social")
    assert items[-1] == Checkpoint(cursor="113990000000000005") and not warns


def test_since_id_on_the_next_run(server, kit, make):
    server.route(TAG, kit.Reply.json([], headers=HEADERS))
    items = kit.run(make(), src(server), CursorState(cursor="113990000000000005"))
    assert server.seen(TAG)[0].q("since_id") == "113990000000000005"
    assert items == [Checkpoint()]


def test_statuses_at_or_below_the_cursor_are_dropped(server, kit, make):
    serve_tag(server, kit)
    posts, cps, _ = kit.split(kit.run(make(), src(server), CursorState(cursor="113988000000000003")))
    assert [p.raw["id"] for p in posts] == ["113990000000000005", "113989000000000004"]
    assert server.count(TAG) == 1  # the page reached the cursor: no further page
    assert cps[-1].cursor == "113990000000000005"


def test_search_needs_a_token(server, kit, make):
    serve_tag(server, kit)
    server.route(SEARCH, kit.Reply.json(kit.fxj("mastodon", "search_school_sluit.json"), headers=HEADERS))
    posts, _, warns = kit.split(kit.run(make(), src(server, search=["school sluit"])))
    assert "needs MASTODON_ACCESS_TOKEN" in warns[0].message and server.count(SEARCH) == 0
    assert len(posts) == 4
    posts, cps, warns = kit.split(kit.run(make(env={"MASTODON_ACCESS_TOKEN": "tok-geheim"}),
                                          src(server, search=["school sluit"])))
    req = server.seen(SEARCH)[0]
    assert req.q("q") == "school sluit" and req.q("type") == "statuses"
    assert req.headers["authorization"] == "Bearer tok-geheim"
    assert posts[-1].text == "Weer een school die sluit in Zeeuws-Vlaanderen 😞"
    assert cps[-1].cursor == "113991000000000006" and not warns


def test_401_is_a_credentials_error(server, kit, make):
    server.route(TAG, kit.Reply.json(kit.fxj("mastodon", "error_401.json"), 401))
    with pytest.raises(CredentialsError, match=r"^source 'mastodon-nl': 127.0.0.1:\d+ refused access \(HTTP 401\)"):
        kit.run(make(), src(server))


def test_429_waits_with_the_injected_clock_or_defers(server, kit, make):
    reset = kit.clock.now().replace(minute=5).isoformat().replace("+00:00", ".000000Z")
    busy = kit.Reply.json(kit.fxj("mastodon", "error_429.json"), 429,
                          {"x-ratelimit-limit": "300", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})
    server.route(TAG, busy, kit.Reply.json(kit.fxj("mastodon", "tag_krimp_page2.json"), headers=HEADERS))
    posts, _, _ = kit.split(kit.run(make(max_wait_s=600), src(server)))
    assert len(posts) == 1 and kit.clock.slept == [301.0]
    later = (kit.clock.now() + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    server.route(TAG, kit.Reply.json(kit.fxj("mastodon", "error_429.json"), 429,
                                     {"x-ratelimit-remaining": "0", "x-ratelimit-reset": later}))
    with pytest.raises(RateLimited, match=r"Mastodon \(127.0.0.1:\d+\) rate limit reached; resets in 901s"):
        kit.run(make(max_wait_s=60), src(server))


def test_server_error_malformed_body_and_timeout(server, kit, make):
    server.route(TAG, kit.Reply(500, b"<h1>We're sorry, but something went wrong</h1>", {"Content-Type": "text/html"}))
    with pytest.raises(SourceError, match=r"^source 'mastodon-nl': 127.0.0.1:\d+ answered a server error"):
        kit.run(make(), src(server))
    server.route(TAG, kit.Reply(200, b"<html>geen json</html>", {"Content-Type": "text/html"}))
    with pytest.raises(SourceError, match=r"^source 'mastodon-nl': "):
        kit.run(make(), src(server))
    server.route(TAG, kit.Reply.json([], delay=1.0))
    with pytest.raises(SourceError, match="timed out"):
        kit.run(make(timeout_s=0.2), src(server))


def test_not_a_mastodon_instance(server, kit, make):
    with pytest.raises(SourceError, match="answered 404"):
        kit.run(make(), src(server))


def test_config_validation():
    base = {"id": "mastodon-nl", "kind": "mastodon"}
    with pytest.raises(ConfigError) as ei:
        parse_config({"sources": [{**base, "hashtags": ["krimp"]}]}, Path("sources.yaml"))
    assert str(ei.value) == "sources.yaml: source 'mastodon-nl': field 'instance' is missing"
    with pytest.raises(ConfigError, match="give 'hashtags' or 'search'"):
        parse_config({"sources": [{**base, "instance": "mastodon.nl"}]}, Path("sources.yaml"))
    with pytest.raises(ConfigError, match=r"field 'hashtags' .*'krimp regio' is not a hashtag"):
        parse_config({"sources": [{**base, "instance": "mastodon.nl", "hashtags": ["krimp regio"]}]}, Path("s.yaml"))
    cfg = parse_config({"sources": [{**base, "instance": "https://Social.Overheid.nl/", "hashtags": ["#Krimp"]}]},
                       Path("s.yaml"))
    assert cfg.sources[0].instance == "social.overheid.nl" and cfg.sources[0].hashtags == ["Krimp"]
