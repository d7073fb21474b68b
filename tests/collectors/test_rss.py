"""RSS/Atom collector against a local HTTP server: real httpx, real feedparser."""

from __future__ import annotations

import gzip
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from listener.collectors.rss import FeedGone, HttpStatusError, RssCollector, RssSource, check_xml_safety, local_path
from listener.config import parse_config
from listener.errors import ConfigError, RateLimited, SourceError
from listener.models import Checkpoint, CursorState, Post, Warning_
from listener.text import content_hash

RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}


def src(url: str, sid: str = "rtv-noordoost", **kw) -> RssSource:
    return RssSource(id=sid, kind="rss", url=url, **kw)


@pytest.fixture
def coll(kit):
    c = RssCollector(kit.ctx())
    yield c
    c.close()


# --- fetching and conditional GET --------------------------------------------------------------

def test_first_run_yields_posts_then_checkpoint_with_validators(server, kit, coll):
    server.route("/rss.xml", kit.Reply(200, kit.fx("rss", "regional.xml"),
                                       {**RSS_TYPE, "ETag": '"v1"', "Last-Modified": "Mon, 02 Mar 2026 07:20:00 GMT"}))
    items = kit.run(coll, src(server.url + "/rss.xml"))
    posts, cps, warns = kit.split(items)
    assert isinstance(items[-1], Checkpoint) and len(cps) == 1
    assert cps[0].etag == '"v1"' and cps[0].last_modified == "Mon, 02 Mar 2026 07:20:00 GMT"
    assert not cps[0].not_modified and not warns
    assert [p.external_id for p in posts] == ["rtvno-1001", "rtvno-1002", "rtvno-1003"]
    first = posts[0]
    assert first.platform == "rss" and first.source_id == "rtv-noordoost"
    assert first.text.startswith("Basisschool in Nieuw-Scheemda sluit na de zomer. De laatste 28 leerlingen")
    assert "<b>" not in first.text and "alert" not in first.text  # HTML stripped, script dropped
    assert first.created_at == datetime(2026, 3, 2, 6, 15, tzinfo=timezone.utc)  # +0100 → UTC
    assert first.url == "https://www.rtv-noordoost.example/nieuws/1001/basisschool-sluit"
    assert first.language is None  # left to the run loop's detector
    assert "dorpshuis & de bibliotheek" in posts[1].text  # entity decoded
    assert posts[2].created_at == datetime(2026, 2, 28, 12, 0, tzinfo=timezone.utc)


def test_honest_headers(server, kit, coll):
    server.route("/rss.xml", kit.Reply(200, kit.fx("rss", "regional.xml"), RSS_TYPE))
    kit.run(coll, src(server.url + "/rss.xml"))
    h = server.seen("/rss.xml")[0].headers
    assert h["user-agent"].startswith("krimp-listener/") and "beheer@gemeente.example" in h["user-agent"]
    assert "application/rss+xml" in h["accept"] and "gzip" in h["accept-encoding"]


def test_second_run_gets_304_and_parses_nothing(server, kit, coll):
    body = kit.fx("rss", "regional.xml")

    def answer(req):
        if req.headers.get("if-none-match") == '"v1"':
            return kit.Reply(304, b"", {"ETag": '"v1"'})
        return kit.Reply(200, body, {**RSS_TYPE, "ETag": '"v1"', "Last-Modified": "Mon, 02 Mar 2026 07:20:00 GMT"})

    server.route("/rss.xml", kit.Reply(body=answer))
    first = kit.run(coll, src(server.url + "/rss.xml"))
    state = kit.state_after(first)
    second = kit.run(coll, src(server.url + "/rss.xml"), state)
    assert second == [Checkpoint(not_modified=True)]
    req = server.seen("/rss.xml")[1]
    assert req.headers["if-none-match"] == '"v1"'
    assert req.headers["if-modified-since"] == "Mon, 02 Mar 2026 07:20:00 GMT"


def test_last_modified_alone_is_sent_back(server, kit, coll):
    def answer(req):
        if req.headers.get("if-modified-since") == "Sun, 01 Mar 2026 10:00:00 GMT":
            return kit.Reply(304)
        return kit.Reply(200, kit.fx("rss", "atom.xml"), {"Content-Type": "application/atom+xml",
                                                          "Last-Modified": "Sun, 01 Mar 2026 10:00:00 GMT"})

    server.route("/atom", kit.Reply(body=answer))
    st = kit.state_after(kit.run(coll, src(server.url + "/atom")))
    assert st.etag is None and st.last_modified == "Sun, 01 Mar 2026 10:00:00 GMT"
    assert kit.run(coll, src(server.url + "/atom"), st) == [Checkpoint(not_modified=True)]


def test_atom_entry(server, kit, coll):
    server.route("/atom", kit.Reply(200, kit.fx("rss", "atom.xml"), {"Content-Type": "application/atom+xml"}))
    posts, _, _ = kit.split(kit.run(coll, src(server.url + "/atom", platform="gemeente")))
    assert len(posts) == 1
    p = posts[0]
    assert p.platform == "gemeente"
    assert p.external_id == "urn:uuid:6a1e1d0e-3b7b-4a49-9a2e-1f0c0c0c0001"
    assert p.text == ("Inloopavond over nieuwe woningen in Uithuizen. Op 12 maart praten inwoners mee over de "
                      "starterswoningen aan de Molenstraat.")
    assert p.created_at == datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def test_gzip_encoded_body(server, kit, coll):
    server.route("/gz", kit.Reply(200, gzip.compress(kit.fx("rss", "regional.xml")),
                                  {**RSS_TYPE, "Content-Encoding": "gzip"}))
    posts, _, _ = kit.split(kit.run(coll, src(server.url + "/gz")))
    assert len(posts) == 3


def test_redirects_followed_within_the_limit(server, kit, coll):
    server.route("/old", kit.Reply(301, b"", {"Location": "/mid"}))
    server.route("/mid", kit.Reply(302, b"", {"Location": server.url + "/rss.xml"}))
    server.route("/rss.xml", kit.Reply(200, kit.fx("rss", "regional.xml"), RSS_TYPE))
    posts, _, _ = kit.split(kit.run(coll, src(server.url + "/old")))
    assert len(posts) == 3


def test_redirect_chain_over_the_limit(server, kit):
    for i in range(10):
        server.route(f"/r{i}", kit.Reply(302, b"", {"Location": f"/r{i + 1}"}))
    c = RssCollector(kit.ctx(max_redirects=3))
    with pytest.raises(SourceError, match=r"source 'rtv-noordoost': more than 3 redirects"):
        kit.run(c, src(server.url + "/r0"))
    assert server.count("/r4") == 0 and server.count("/r3") == 1
    c.close()


# --- failures ----------------------------------------------------------------------------------

def test_slow_server_hits_the_timeout(server, kit):
    server.route("/slow", kit.Reply(200, kit.fx("rss", "regional.xml"), RSS_TYPE, delay=1.5))
    c = RssCollector(kit.ctx(timeout_s=0.3))
    t0 = time.monotonic()
    with pytest.raises(SourceError, match=r"^source 'rtv-noordoost': timed out after 0.3s"):
        kit.run(c, src(server.url + "/slow"))
    assert time.monotonic() - t0 < 1.2
    c.close()


def test_server_error_is_a_source_error_with_status(server, kit, coll):
    server.route("/rss.xml", kit.Reply(500, b"<h1>Internal Server Error</h1>", {"Content-Type": "text/html"}))
    with pytest.raises(HttpStatusError) as ei:
        kit.run(coll, src(server.url + "/rss.xml"))
    assert ei.value.http_status == 500
    assert str(ei.value) == f"source 'rtv-noordoost': HTTP 500 from {server.url}/rss.xml"


def test_410_is_feed_gone_and_404_carries_status_for_the_dead_count(server, kit, coll):
    server.route("/gone", kit.Reply(410))
    server.route("/missing", kit.Reply(404))
    server.route("/forbidden", kit.Reply(403))
    with pytest.raises(FeedGone):
        kit.run(coll, src(server.url + "/gone"))
    for path, status in (("/missing", 404), ("/forbidden", 403)):
        with pytest.raises(HttpStatusError) as ei:
            kit.run(coll, src(server.url + path))
        assert ei.value.http_status == status and not isinstance(ei.value, FeedGone)


def test_429_defers_with_retry_after(server, kit, coll):
    server.route("/busy", kit.Reply(429, b"", {"Retry-After": "120"}))
    with pytest.raises(RateLimited, match=r"HTTP 429 .*retry after 120s"):
        kit.run(coll, src(server.url + "/busy"))


def test_connection_refused(kit, coll):
    with pytest.raises(SourceError, match=r"^source 'rtv-noordoost': ConnectError"):
        kit.run(coll, src("http://127.0.0.1:9/rss.xml"))


def test_50_mb_body_is_cut_off_at_the_cap_while_streaming(server, kit):
    sent = {"bytes": 0}
    block = b"<!-- " + b"x" * 65_000 + b" -->\n"

    def endless():
        yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        while sent["bytes"] < 50_000_000:
            sent["bytes"] += len(block)
            yield block

    server.route("/huge", kit.Reply(200, lambda req: endless(), RSS_TYPE))
    c = RssCollector(kit.ctx(max_body_bytes=1_000_000))
    tracemalloc.start()
    with pytest.raises(SourceError, match=r"larger than the 1000000 byte cap; cut off"):
        kit.run(c, src(server.url + "/huge"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    c.close()
    assert peak < 20_000_000
    assert sent["bytes"] < 50_000_000  # the server was cut off long before the end


def test_declared_length_over_the_cap_is_refused_before_reading(server, kit):
    server.route("/big", kit.Reply(200, b"x" * 20_000, RSS_TYPE))
    c = RssCollector(kit.ctx(max_body_bytes=10_000))
    with pytest.raises(SourceError, match=r"response of 20000 bytes exceeds the 10000 byte cap"):
        kit.run(c, src(server.url + "/big"))
    c.close()


def test_gzip_bomb_is_stopped_at_the_cap(server, kit):
    bomb = gzip.compress(b"<rss>" + b"\0" * 30_000_000)  # ~30 kB on the wire
    server.route("/bomb", kit.Reply(200, bomb, {**RSS_TYPE, "Content-Encoding": "gzip"}))
    c = RssCollector(kit.ctx(max_body_bytes=1_000_000))
    with pytest.raises(SourceError, match="byte cap"):
        kit.run(c, src(server.url + "/bomb"))
    c.close()


def test_partly_malformed_feed_yields_readable_entries_and_a_warning(server, kit, coll):
    server.route("/f", kit.Reply(200, kit.fx("rss", "partly_broken.xml"), RSS_TYPE))
    items = kit.run(coll, src(server.url + "/f"))
    posts, cps, warns = kit.split(items)
    assert [p.external_id for p in posts] == ["zw-1", "zw-2"]
    assert len(warns) == 1 and "feed has errors but 2 entries were readable" in warns[0].message
    assert isinstance(items[-1], Checkpoint)


@pytest.mark.parametrize("body", [None, b'{"error": "geen feed"}', b"\x00\x01\x02 binair", b""])
def test_unreadable_body_is_a_malformed_feed_error(server, kit, coll, body):
    body = kit.fx("rss", "not_a_feed.html") if body is None else body
    server.route("/f", kit.Reply(200, body, {"Content-Type": "text/html"}))
    with pytest.raises(SourceError, match=r"^source 'rtv-noordoost': malformed feed"):
        kit.run(coll, src(server.url + "/f"))


def test_truncated_xml_still_yields_what_was_readable(server, kit, coll):
    server.route("/f", kit.Reply(200, kit.fx("rss", "garbage.xml"), RSS_TYPE))
    posts, _, warns = kit.split(kit.run(coll, src(server.url + "/f")))
    assert [p.text for p in posts] == ["abc"] and "SAXParseException" in warns[0].message


def test_windows_1252_feed(server, kit, coll):
    body = kit.fx("rss", "windows1252.xml")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    for ctype in ("application/rss+xml", "text/xml; charset=windows-1252"):
        server.route("/cp", kit.Reply(200, body, {"Content-Type": ctype}))
        posts, _, warns = kit.split(kit.run(coll, src(server.url + "/cp")))
        assert len(posts) == 1
        assert posts[0].text.startswith("Café ’t Hoekje in Hoofdplaat stopt na 80 jaar. Eigenaresse Ineke: ‘Geen opvolger")
        assert "€ 1.400" in posts[0].text and "reünie" in posts[0].text


def test_entry_without_guid_uses_link_then_text_hash(kit, coll):
    posts, _, _ = kit.split(kit.run(coll, src(str(kit.FIXTURES / "rss" / "no_guid.xml"))))
    assert posts[0].external_id == "https://dorpskrant.example/2026/03/supermarkt-blijft-open"
    assert posts[1].external_id.startswith("sha256:") and posts[1].url is None
    again, _, _ = kit.split(kit.run(coll, src(str(kit.FIXTURES / "rss" / "no_guid.xml"))))
    assert again[1].external_id == posts[1].external_id  # stable, so a repeat is no new post


def test_same_item_in_two_feeds_has_the_same_content_hash(kit, coll):
    a, _, _ = kit.split(kit.run(coll, src(str(kit.FIXTURES / "rss" / "dup_a.xml"), "dvhn")))
    b, _, _ = kit.split(kit.run(coll, src(str(kit.FIXTURES / "rss" / "dup_b.xml"), "gnews-zwembad")))
    assert a[0].external_id != b[0].external_id
    assert content_hash(a[0].text) == content_hash(b[0].text)


def test_billion_laughs_is_refused_without_blowing_up(server, kit, coll):
    server.route("/lol", kit.Reply(200, kit.fx("rss", "billion_laughs.xml"), RSS_TYPE))
    tracemalloc.start()
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="declares XML entities"):
        kit.run(coll, src(server.url + "/lol"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.monotonic() - t0 < 2 and peak < 10_000_000


def test_billion_laughs_in_utf16_is_refused_too():
    body = "\ufeff" + (Path(__file__).parent.parent / "fixtures" / "rss" / "billion_laughs.xml").read_text()
    assert check_xml_safety(body.encode("utf-16-le")) is not None
    assert check_xml_safety(body.encode("utf-16")) is not None


def test_xxe_does_not_read_a_local_file(server, kit, coll, tmp_path):
    secret = tmp_path / "geheim.txt"
    secret.write_text("WACHTWOORD-DB=hunter2")
    feed = (kit.FIXTURES / "rss" / "xxe.xml.tmpl").read_text().replace("{secret}", str(secret))
    server.route("/xxe", kit.Reply(200, feed.encode(), RSS_TYPE))
    with pytest.raises(SourceError, match="declares XML entities") as ei:
        kit.run(coll, src(server.url + "/xxe"))
    assert "hunter2" not in str(ei.value)
    (tmp_path / "xxe.xml").write_text(feed)
    with pytest.raises(SourceError):
        kit.run(coll, src(str(tmp_path / "xxe.xml")))


def test_a_plain_rss091_doctype_is_fine():
    body = (b'<?xml version="1.0"?>\n<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
            b'"http://my.netscape.com/publish/formats/rss-0.91.dtd">\n<rss version="0.91"><channel></channel></rss>')
    assert check_xml_safety(body) is None


# --- local files -------------------------------------------------------------------------------

def test_file_url_and_relative_paths(kit, tmp_path, monkeypatch):
    feed = tmp_path / "feeds" / "regio.xml"
    feed.parent.mkdir()
    feed.write_bytes(kit.fx("rss", "regional.xml"))
    c = RssCollector(kit.ctx(), base_dir=tmp_path)
    for url in (feed.as_uri(), "file://" + str(feed), str(feed), "feeds/regio.xml"):
        posts, cps, _ = kit.split(kit.run(c, src(url)))
        assert len(posts) == 3, url
        assert cps == [Checkpoint()]  # no validators for files
    monkeypatch.chdir(tmp_path)
    posts, _, _ = kit.split(kit.run(RssCollector(kit.ctx()), src("./feeds/regio.xml")))
    assert len(posts) == 3
    assert local_path("http://example.org/feed") is None


def test_missing_or_oversized_local_file(kit, tmp_path):
    c = RssCollector(kit.ctx(max_body_bytes=100))
    with pytest.raises(SourceError, match=r"^source 'rtv-noordoost': cannot read .*bestaat-niet.xml"):
        kit.run(c, src(str(tmp_path / "bestaat-niet.xml")))
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * 200)
    with pytest.raises(SourceError, match="larger than the 100 byte cap"):
        kit.run(c, src(str(big)))


def test_max_items_per_run(kit):
    c = RssCollector(kit.ctx(max_items_per_run=2))
    posts, cps, warns = kit.split(kit.run(c, src(str(kit.FIXTURES / "rss" / "regional.xml"))))
    assert len(posts) == 2 and len(cps) == 1 and "more than 2 entries" in warns[0].message


# --- concurrency -------------------------------------------------------------------------------

def test_one_collector_serves_many_threads(server, kit):
    body = kit.fx("rss", "regional.xml")
    for i in range(24):
        server.route(f"/f{i}.xml", kit.Reply(200, body, {**RSS_TYPE, "ETag": f'"e{i}"'}, delay=0.05))
    c = RssCollector(kit.ctx())
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: kit.run(c, src(f"{server.url}/f{i}.xml", f"feed-{i}")), range(24)))
    c.close()
    for i, items in enumerate(results):
        posts, cps, _ = kit.split(items)
        assert len(posts) == 3 and {p.source_id for p in posts} == {f"feed-{i}"}
        assert cps[-1].etag == f'"e{i}"'


def test_requests_to_one_host_are_capped_and_other_hosts_go_on(kit, feed_server):
    # 12 threads, 6 feeds on each of two hosts, at most 2 requests per host at a time: each host
    # sees 2 at once (never 3), and both hosts are served at the same time.
    c = RssCollector(kit.ctx(max_per_host=2))
    with feed_server(delay=0.3) as a, feed_server(delay=0.3) as b:
        jobs = [(host, i) for host in (a, b) for i in range(6)]
        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(lambda j: kit.run(c, src(f"{j[0].url}/feed/{j[1]}.xml", f"feed-{j[1]}")), jobs))
    c.close()
    assert all(len(kit.split(items)[0]) == a.ITEMS for items in results)
    assert a.max_in_flight == b.max_in_flight == 2
    assert min(end for _, end in a.spans) > min(start for start, _ in b.spans)  # overlapping, not in turn


# --- configuration -----------------------------------------------------------------------------

def test_source_validation_errors_are_one_line():
    with pytest.raises(ValidationError) as ei:
        RssSource(id="a", kind="rss", url="ftp://example.org/feed")
    assert "unsupported URL scheme 'ftp'" in str(ei.value)
    with pytest.raises(ConfigError) as ei:
        parse_config({"sources": [{"id": "rtv-noord", "kind": "rss"}]}, Path("sources.yaml"))
    assert str(ei.value) == "sources.yaml: source 'rtv-noord': field 'url' is missing"
    with pytest.raises(ConfigError, match="field 'platform'"):
        parse_config({"sources": [{"id": "a", "kind": "rss", "url": "https://x.example/f", "platform": "Mast don"}]},
                     Path("sources.yaml"))


def test_items_are_only_posts_checkpoints_and_warnings(kit, coll):
    items = kit.run(coll, src(str(kit.FIXTURES / "rss" / "partly_broken.xml")))
    assert all(isinstance(i, (Post, Checkpoint, Warning_)) for i in items)
    assert CursorState() == kit.state_after([])
