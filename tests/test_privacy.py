"""Privacy by design: pseudonyms, masking, purpose limitation, no personal data or secrets at rest."""

from __future__ import annotations

import re
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listener import privacy
from listener.cli import main
from listener.config import parse_config
from listener.errors import ConfigError
from listener.privacy import author_key, mask_text, mask_url_credentials

# --- pseudonymisation ---------------------------------------------------------------------------


def test_author_key_same_author_same_key() -> None:
    k = author_key("mastodon", "@Jan@Dorp.Social")
    assert k == author_key("mastodon", "jan@dorp.social") == author_key("mastodon", " @jan@dorp.social ")
    assert k == author_key("mastodon", "j\u200ban@dorp.social")  # zero-width space ignored
    assert k == author_key("mastodon", "ｊａｎ@dorp.social")  # full-width letters (NFKC)
    assert k != author_key("bluesky", "jan@dorp.social")  # platform is part of the key
    assert re.fullmatch(r"[0-9a-f]{32}", k)
    assert "jan" not in k


def test_author_key_unlinkable_across_deployments(monkeypatch: pytest.MonkeyPatch) -> None:
    a = author_key("x", "12345")
    monkeypatch.setenv(privacy.KEY_ENV, "another-deployment-secret-key")
    assert author_key("x", "12345") != a
    assert author_key("x", 12345) == author_key("x", "12345")


@pytest.mark.parametrize("handle", [None, "", "  ", "@"])
def test_author_key_empty(handle: str | None) -> None:
    assert author_key("x", handle) is None


def test_short_env_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(privacy.KEY_ENV, "kort")
    with pytest.raises(ConfigError, match="too short") as exc:
        author_key("x", "1")
    assert "kort" not in str(exc.value)


def test_key_file_generated_once_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "key"
    monkeypatch.delenv(privacy.KEY_ENV)
    monkeypatch.setenv(privacy.KEY_FILE_ENV, str(path))
    monkeypatch.setattr(privacy, "_cached", {})
    keys: list[str | None] = []
    threads = [threading.Thread(target=lambda: keys.append(author_key("x", "1"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and keys[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "generated a new pseudonym key" in caplog.text and str(path) in caplog.text
    key_text = path.read_text().strip()
    assert len(key_text) == 64 and key_text not in caplog.text
    assert not list(tmp_path.glob("*.tmp"))
    # A second process (an empty cache) reads the same key back.
    monkeypatch.setattr(privacy, "_cached", {})
    assert author_key("x", "1") == keys[0]


def test_key_file_damaged_or_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "key"
    monkeypatch.delenv(privacy.KEY_ENV)
    monkeypatch.setenv(privacy.KEY_FILE_ENV, str(path))
    monkeypatch.setattr(privacy, "_cached", {})
    path.write_text("abc\n")
    with pytest.raises(ConfigError, match="damaged"):
        privacy.pseudonym_key()
    path.write_text("a" * 64 + "\n")
    path.chmod(0o644)
    privacy.pseudonym_key()
    assert "can be read by other users" in caplog.text
    monkeypatch.setenv(privacy.KEY_FILE_ENV, str(tmp_path / "no" / "such" / "dir" / "key"))
    with pytest.raises(ConfigError, match="cannot create the pseudonym key file"):
        privacy.pseudonym_key()


# --- minimisation ---------------------------------------------------------------------------------

MASK_CASES = [
    ("Mail jan.jansen@example.nl of bel 06-12345678.", "Mail [e-mail] of bel [telefoon]."),
    ("bel 06 123 456 78", "bel [telefoon]"),
    ("bel 06 - 12 34 56 78", "bel [telefoon]"),
    ("bel (050) 123 45 67", "bel [telefoon]"),
    ("bel +31 (0)6 1234 5678", "bel [telefoon]"),
    ("bel 0031 50 123 4567", "bel [telefoon]"),
    ("bel +31612345678", "bel [telefoon]"),
    ("call +32 470 12 34 56", "call [telefoon]"),
    ("ruf +49 30 12345678 an", "ruf [telefoon] an"),
    ("call +1 (555) 123-4567", "call [telefoon]"),
    ("bel 0044 20 7946 0958", "bel [telefoon]"),
    ("０６-１２３４５６７８", "[telefoon]"),  # full-width digits
    ("op 06-12-2026 14:00 uur", "op 06-12-2026 14:00 uur"),  # a date and time, not a number
    ("bel 0800-1234567 of 0900-8844 of 14 050", "bel 0800-1234567 of 0900-8844 of 14 050"),  # organisations
    ("1990 2000 2010 en € 1.234.567", "1990 2000 2010 en € 1.234.567"),
    ("Dorpsstraat 12, 9981 AB Uithuizen", "Dorpsstraat 12, 9981 AB Uithuizen"),  # address kept (see docs)
    ("@pietjepuk weet meer", "@gebruiker weet meer"),
    ("dank @piet@dorp.social!", "dank @gebruiker!"),
    ("＠jan", "@gebruiker"),
    ("zie u/jansen123 en /u/kees_k", "zie u/gebruiker en /u/gebruiker"),
    ("mail naam [at] dorp.nl", "mail [e-mail]"),
    ("mail naam(at)dorp(punt)nl", "mail [e-mail]"),
    ("mail naam at dorp dot nl", "mail [e-mail]"),
    ("mail naam {at} dorp [dot] frl", "mail [e-mail]"),
    ("mailto:jan@x.nl", "mailto:[e-mail]"),
    ("Doneer op NL91 ABNA 0417 1643 00 voor het dorpshuis", "Doneer op [rekeningnummer] voor het dorpshuis"),
    ("iban nl91abna0417164300.", "iban [rekeningnummer]."),
    ("BE68 5390 0754 7034 voor", "[rekeningnummer] voor"),
    ("NL12 ABCD 1234 5678 90 (ongeldig)", "NL12 ABCD 1234 5678 90 (ongeldig)"),  # bad check digits
    ("https://mastodon.social/@jan/1123", "https://mastodon.social/@gebruiker/1123"),
    ("https://jan:geheim@example.nl/feed", "https://example.nl/feed"),
    ("https://x.com/janjansen/status/1", "https://x.com/gebruiker/status/1"),
    ("https://www.reddit.com/user/jansen/", "https://www.reddit.com/user/gebruiker/"),
    ("https://bsky.app/profile/jan.bsky.social/post/3k", "https://bsky.app/profile/gebruiker/post/3k"),
    ("https://www.facebook.com/events/123", "https://www.facebook.com/events/123"),
    ("https://example.org/pad@kaart?x=1 en meer", "https://example.org/pad@kaart?x=1 en meer"),
]


@pytest.mark.parametrize("raw,expected", MASK_CASES, ids=[c[0][:40] for c in MASK_CASES])
def test_mask_text(raw: str, expected: str) -> None:
    assert mask_text(raw) == expected


def test_public_accounts_are_kept() -> None:
    public = {"gemeente_emmen", "@rtvnoord"}
    text = "@gemeente_emmen en @RTVNoord en @jan, https://x.com/gemeente_emmen/status/1 https://x.com/jan"
    assert mask_text(text, public) == (
        "@gemeente_emmen en @RTVNoord en @gebruiker, https://x.com/gemeente_emmen/status/1 https://x.com/gebruiker"
    )
    assert mask_text("@dorpshuis@mastodon.nl", {"dorpshuis@mastodon.nl"}) == "@dorpshuis@mastodon.nl"


def test_mask_url_credentials() -> None:
    assert mask_url_credentials("GET https://jan:geheim@example.nl/feed failed") == "GET https://***@example.nl/feed failed"
    assert mask_url_credentials("postgresql://u:pw@db/x") == "postgresql://***@db/x"


def test_masking_is_linear_on_adversarial_input() -> None:
    import time

    for evil in ["a" * 100_000, "@" * 100_000, "a@" * 50_000, "0 " * 50_000, "NL12 " * 20_000,
                 "x [at] " * 20_000, "https://" + "@a/" * 30_000, "+1 " * 40_000]:
        t0 = time.monotonic()
        mask_text(evil)
        assert time.monotonic() - t0 < 2.0


FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=200)
SAFE_GAP = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40)
EMAILS = st.from_regex(r"[a-z][a-z0-9._]{1,15}@[a-z]{2,10}\.(nl|com|org)", fullmatch=True)
PHONES = st.builds(lambda sep, d: "06" + sep + sep.join([d[:2], d[2:4], d[4:6], d[6:]]),
                   st.sampled_from(["", " ", "-", "."]), st.from_regex(r"[0-9]{8}", fullmatch=True))


@FAST
@given(ANY_TEXT)
def test_mask_never_fails_and_is_stable(raw: str) -> None:
    once = mask_text(raw)
    assert mask_text(once) == once


@FAST
@given(SAFE_GAP, EMAILS, PHONES, SAFE_GAP)
def test_mask_removes_embedded_contact_details(before: str, email: str, phone: str, after: str) -> None:
    out = mask_text(f"{before} {email} en {phone} {after}")
    assert email not in out
    assert re.sub(r"\D", "", phone) not in re.sub(r"\D", "", out)


# --- secrets --------------------------------------------------------------------------------------

SECRETS = [
    ({"url": "https://jan:geheim@example.nl/feed.xml"}, "geheim"),
    ({"url": "https://example.nl/feed.xml", "name": "AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid%2BULvsea4JtiGRiSDSJSI%3DE"}, "AAAAAAAAAAAAAAAAAAAAAMLhe"),
    ({"url": "https://example.nl/feed.xml", "name": "Bearer abcdefghijklmnop1234"}, "abcdefghijklmnop1234"),
    ({"url": "https://example.nl/feed.xml", "name": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc123"}, "eyJhbGciOiJIUzI1NiJ9"),
]


@pytest.mark.parametrize("extra,secret", SECRETS)
def test_credential_values_are_refused(tmp_path: Path, extra: dict, secret: str) -> None:
    with pytest.raises(ConfigError, match="looks like a credential") as exc:
        parse_config({"sources": [{"id": "dorp", "kind": "rss", **extra}]}, tmp_path / "sources.yaml")
    assert secret not in str(exc.value)


def test_credential_value_in_settings_is_refused_by_the_cli(tmp_path: Path) -> None:
    cfg = tmp_path / "sources.yaml"
    cfg.write_text("settings:\n  contact: https://beheer:Wachtwoord123@dorp.nl\nsources: []\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["--sources", str(cfg), "sources", "check"])
    assert r.exit_code == 2
    assert "Wachtwoord123" not in r.output and "looks like a credential" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_ordinary_values_are_not_credentials(tmp_path: Path) -> None:
    cfg = parse_config({"keyword_sets": {"zorg": ["huisarts", "AAAA"]},
                        "sources": [{"id": "dorp", "kind": "rss", "url": "https://example.nl/@dorp/feed.rss"}]},
                       tmp_path / "sources.yaml")
    assert cfg.sources[0].id == "dorp"


def test_database_password_never_in_the_error(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["--db", "postgresql://beheer:Wachtwoord123@127.0.0.1:1/x", "audit"])
    assert r.exit_code == 1
    assert "Wachtwoord123" not in r.output and "unreachable" in r.output
    # Retries are logged as warnings; the error itself is one line.
    assert [ln for ln in r.output.splitlines() if ln.startswith("listener:")] == [r.output.strip().splitlines()[-1]]


# --- nothing personal at rest -------------------------------------------------------------------

PERSONAL = ["pietjepuk", "jan.jansen@example.nl", "0612345678", "12345678", "ABNA0417164300", "geheim", "kees_k"]
FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Dorpsnieuws</title>
<item><title>Huisarts in Ulrum stopt</title><link>https://example.org/1</link><guid>n1</guid>
<pubDate>Mon, 23 Nov 2026 10:00:00 +0100</pubDate>
<description>De huisarts stopt en er is geen opvolger. Mail jan.jansen@example.nl of bel 06-12345678.</description></item>
<item><title>Dorpshuis in Warffum zoekt vrijwilligers</title><link>https://example.org/2</link><guid>n2</guid>
<pubDate>Tue, 24 Nov 2026 10:00:00 +0100</pubDate>
<description>Wie doet mee met de bardienst in het dorpshuis? @pietjepuk en u/kees_k weten meer. Steun ons: NL91 ABNA 0417 1643 00. https://jan:geheim@example.nl/x</description></item>
</channel></rss>"""


def _dump_database(db_url: str, tmp_path: Path) -> bytes:
    if db_url.startswith("sqlite"):
        db = Path(db_url.split("///", 1)[1])
        return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    from sqlalchemy import create_engine, inspect, text

    eng = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    out = []
    with eng.connect() as conn:
        for table in inspect(conn).get_table_names():
            out += [str(tuple(r)) for r in conn.execute(text(f'SELECT * FROM "{table}"'))]
    eng.dispose()
    return "\n".join(out).encode("utf-8")


def test_no_personal_data_in_database_or_export(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "feed.xml").write_text(FEED, encoding="utf-8")
    cfg = tmp_path / "sources.yaml"
    cfg.write_text("sources:\n  - id: dorp\n    kind: rss\n    url: feed.xml\n    keep_irrelevant: true\n", encoding="utf-8")
    base = ["--db", db_url, "--sources", str(cfg)]
    r = CliRunner().invoke(main, [*base, "run", "--once"])
    assert r.exit_code == 0, r.output
    for fmt in ("jsonl", "csv"):
        r = CliRunner().invoke(main, [*base, "export", "--format", fmt, "-o", str(tmp_path / f"out.{fmt}")])
        assert r.exit_code == 0, r.output
    raw = _dump_database(db_url, tmp_path)
    assert b"[telefoon]" in raw and b"[e-mail]" in raw and b"@gebruiker" in raw and b"[rekeningnummer]" in raw
    exports = (tmp_path / "out.jsonl").read_bytes() + (tmp_path / "out.csv").read_bytes()
    for item in PERSONAL:
        assert item.encode() not in raw, f"{item!r} found in the database"
        assert item.encode() not in exports, f"{item!r} found in an export"


# --- purpose limitation with the real classifier ----------------------------------------------------


@pytest.fixture(scope="module")
def tagger():  # noqa: ANN201
    from classifiers import Classifier

    return Classifier()


def test_irrelevant_posts_are_dropped_and_counted(tmp_path: Path, tagger) -> None:  # noqa: ANN001
    from listener.models import Post
    from listener.pipeline import IngestCounts, prepare

    posts = [
        Post("rss", "dorp", "1", "De huisarts in Ulrum stopt en er is geen opvolger, bel 06-12345678"),
        Post("rss", "dorp", "2", "Uitslag van de wedstrijd: het eerste elftal won met 3-1 van de buren"),
    ]
    for keep_irrelevant, expected in ((False, 1), (True, 2)):
        src = parse_config({"sources": [{"id": "dorp", "kind": "rss", "url": "f.xml", "keep_irrelevant": keep_irrelevant}]},
                           tmp_path / "sources.yaml").sources[0]
        counts = IngestCounts()
        rows = prepare(posts, src, tagger, counts)
        assert len(rows) == expected
        assert counts.irrelevant == (0 if keep_irrelevant else 1)
        assert "[telefoon]" in rows[0].text and any(t["tag"] == "zorg" for t in rows[0].tags)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.one_of(ANY_TEXT, st.lists(st.sampled_from(
    ["huisarts", "Ulrum", "stopt", "bus", "\u200b", "#Achterhoek", "dorpshuis", " ", "🏠", "\u0301", "Ljouwert", "geen"]),
    max_size=20).map(" ".join)))
def test_classifier_on_arbitrary_text(tagger, raw: str) -> None:  # noqa: ANN001
    from listener.text import clean_text

    text = mask_text(clean_text(raw))
    [c] = list(tagger.classify_many([text]))
    for ev in c.evidence:
        assert 0 <= ev.start <= ev.end <= len(text)
        assert text[ev.start:ev.end] == ev.matched or ev.matched


# --- fast paths of masking: cheap tests before the expensive patterns --------------------------------


def reference_mask_text(text: str, public_accounts: frozenset[str] = frozenset()) -> str:
    """mask_text as first written: every pattern on every piece, no pre-checks."""
    p = privacy
    if not text:
        return text
    public = frozenset(a.lower().lstrip("@") for a in public_accounts)

    def contacts(t: str) -> str:
        t = p._EMAIL_OBFUSCATED.sub(p.MASK_EMAIL, p._EMAIL.sub(p.MASK_EMAIL, t))
        t = p._PHONE_NL.sub(p.MASK_PHONE, p._IBAN.sub(p._mask_iban, t))
        return p._PHONE_INTL.sub(
            lambda m: p.MASK_PHONE if 9 <= sum(c.isdigit() for c in m.group(0)) <= 15 else m.group(0), t)

    def plain(t: str) -> str:
        t = p._REDDIT_USER.sub(lambda m: m.group(0) if m.group(2).lower() in public else m.group(1) + "gebruiker", t)
        out, pos = [], 0
        for m in p._MENTION.finditer(t):
            out.append(contacts(t[pos:m.start()]))
            full = m.group(0)[1:].lower()
            out.append(m.group(0) if m.group(1).lower() in public or full in public else p.MASK_MENTION)
            pos = m.end()
        return "".join(out) + contacts(t[pos:])

    def url(u: str) -> str:
        u = p._URL_USERINFO.sub(lambda m: m.group(1), u)
        u = p._URL_AT_SEGMENT.sub(lambda m: m.group(0) if m.group(1).lower() in public
                                  or (m.group(1) + (m.group(2) or "")).lower() in public else "/" + p.MASK_MENTION, u)
        for pattern in (p._URL_USER_PATH, p._PROFILE_HOSTS):
            m = pattern.match(u)
            if m and m.group(2).lower().lstrip("@") not in public:
                u = m.group(1) + "gebruiker" + u[m.end():]
        return p._EMAIL.sub(p.MASK_EMAIL, u)

    text = text.translate(p._FOLD)
    out, pos = [], 0
    for m in p._URL.finditer(text):
        out += [plain(text[pos:m.start()]), url(m.group(0))]
        pos = m.end()
    return "".join(out) + plain(text[pos:])


@pytest.mark.parametrize("raw,expected", [
    # Each line needs the pattern that a pre-check guards: the pre-check must let it through.
    ("ｊａｎ＠ｄｏｒｐ．ｎｌ", "[e-mail]"),  # non-ASCII: folded before the "@" test
    ("mail naam AT dorp DOT nl", "mail [e-mail]"),  # " at " in capitals
    ("mail naam\tat\tdorp punt nl", "mail [e-mail]"),  # any white space around "at"
    ("mail naam < @ > dorp.nl", "mail [e-mail]"),
    ("mail naam [apenstaartje] dorp.nl", "mail [e-mail]"),
    ("bel 0049 30 12345678", "bel [telefoon]"),  # "00" without "+"
    ("bel 06-12345678 of NL91ABNA0417164300", "bel [telefoon] of [rekeningnummer]"),
    ("zie WWW.x.com/janjansen of Https://jan:pw@dorp.nl/x", "zie WWW.x.com/janjansen of Https://dorp.nl/x"),
    ("zie https://mastodon.social/@jan/1", "zie https://mastodon.social/@gebruiker/1"),
    ("https://dorp.nl/contact?mail=jan@dorp.nl", "https://dorp.nl/contact?mail=[e-mail]"),
    # Nothing for a pattern to find: the text comes back as it was.
    ("Het dorpshuis sluit #krimp", "Het dorpshuis sluit #krimp"),
    ("wat een straat, dat is at-tent", "wat een straat, dat is at-tent"),
    ("in 1990 waren er 1200 inwoners", "in 1990 waren er 1200 inwoners"),
    ("café 😀 naïef", "café 😀 naïef"),
    ("", ""),
])
def test_mask_text_pre_checks(raw: str, expected: str) -> None:
    assert mask_text(raw) == expected == reference_mask_text(raw)


PIECES = st.sampled_from([
    " ", "  ", "\t", "\n", "de", "het", "dorp", "@", "＠", "﹫", "@jan", "@Jan@dorp.social", "jan@dorp.nl", "[at]",
    "(at)", " at ", " AT ", "{apenstaartje}", " apenſtaartje ", "(punt)", " dot ", ".nl", ".ınfo", "0", "00", "06",
    "0612345678", "06-12345678", "+31", "+31 6", "0031", "(0)", "(050)", " 123 45 67", "12345678", "+49 30 1234567",
    "0800", "14:00", "٣", "０６", "１２３４５６７８", "NL91ABNA0417164300", "NL91 ABNA 0417 1643 00", "BE68 5390 0754 7034",
    "https://", "HTTP://", "ftp://", "www.", "WWW.", "://", "jan:pw@", "x.com/", "/@", "/u/", "u/", "u/jan_de_boer",
    "reddit.com/user/", "#", ".", ",", "/", "<", ">", "(", ")", "[", "]", "é", "ſ", "K", "ı", "😀",
])


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(PIECES, st.text(max_size=5)), max_size=30).map("".join),
       st.sampled_from([frozenset(), frozenset({"jan", "jan@dorp.social", "jan_de_boer"})]))
def test_mask_text_agrees_with_the_reference(text: str, public: frozenset[str]) -> None:
    assert mask_text(text, public) == reference_mask_text(text, public)


def test_author_keyer_reads_the_key_once_and_only_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = privacy.pseudonym_key
    monkeypatch.setattr(privacy, "pseudonym_key", lambda: calls.append(1) or real())
    keyer = privacy.author_keyer()
    assert keyer("x", None) is None and keyer("x", " @ ") is None
    assert calls == []  # no author, no key: a batch without authors needs no key file
    assert keyer("mastodon", "@Jan") == author_key("mastodon", "jan") == keyer("mastodon", "JAN")
    assert len(calls) == 2  # once for the keyer, once for author_key


@pytest.mark.parametrize("handle,expected", [
    ("@Jan ", "jan"), ("ｊａｎ", "jan"), ("j\u200ban", "jan"), ("\u00ad@jan", "jan"), ("ĲSSEL", "ijssel"), (42, "42"),
])
def test_normalise_handle(handle: str | int, expected: str) -> None:
    assert privacy.normalise_handle(handle) == expected
