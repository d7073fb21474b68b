"""Text cleaning of untrusted input: tags, scripts, controls, invisible characters, size."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listener import text as text_module
from listener.text import MAX_TEXT_CHARS, clean_text, content_hash, html_to_text, join_title_summary

CONTROL_OR_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    r"\ud800-\udfff\U000e0000-\U000e007f]"
)


@pytest.mark.parametrize("raw,expected", [
    ("<p>Dorpshuis <b>open</b></p><script>x()</script>", "Dorpshuis open"),
    ("<style>p{}</style><p>De bus</p><p>rijdt niet</p>", "De bus\nrijdt niet"),
    ('<a href="javascript:alert(1)" onclick="steal()">klik</a> hier', "klik hier"),
    ("&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;Hallo &amp;amp; welkom", "Hallo & welkom"),
    ("<img src=x onerror=alert(1)>Pinautomaat weg", "Pinautomaat weg"),
    ("<svg><script>alert(1)</script></svg>School dicht", "School dicht"),
    ("<!-- verborgen -->Zichtbaar", "Zichtbaar"),
    ("R&amp;D in Winschoten &lt;3", "R&D in Winschoten <3"),
    ("a < b en c > d", "a < b en c > d"),
    ("<iframe src='https://evil'></iframe>Tekst", "Tekst"),
    ("<div>" * 5000 + "diep" + "</div>" * 5000, "diep"),
])
def test_html_to_text(raw: str, expected: str) -> None:
    assert html_to_text(raw) == expected


@pytest.mark.parametrize("raw,expected", [
    ("Geld\u200bmaat\x00  sluit\r\n", "Geldmaat sluit"),
    ("\u202eGEVAAR\u202c tekst", "GEVAAR tekst"),  # RTL override
    ("\u2067isolaat\u2069", "isolaat"),
    ("pin\u00adautomaat", "pinautomaat"),  # soft hyphen
    ("\ufeffBOM vooraan", "BOM vooraan"),
    ("verborgen\U000e0041\U000e0042 tekst", "verborgen tekst"),  # Unicode tag characters
    ("cafe\u0301", "café"),  # NFC
    ("a\x00\u0301", "á"),
    ("lijn1\r\n\r\n\r\nlijn2", "lijn1\nlijn2"),
    ("bel\x07 \x1b[31mrood", "bel [31mrood"),
    ("\ud800los surrogaat", "los surrogaat"),
    ("", ""),
    (None, ""),
])
def test_clean_text(raw: str | None, expected: str) -> None:
    assert clean_text(raw) == expected


def test_huge_input_is_bounded() -> None:
    text = html_to_text("<b>" + "x" * 20_000_000 + "</b>")
    assert len(text) == MAX_TEXT_CHARS
    assert len(clean_text("y " * 1_000_000)) <= MAX_TEXT_CHARS


def test_content_hash_ignores_noise() -> None:
    assert content_hash("De #bus rijdt niet meer! https://t.co/x") == content_hash("de bus rijdt NIET meer")
    assert content_hash("De bus") != content_hash("De trein")


def test_join_title_summary() -> None:
    assert join_title_summary("Titel", "Titel en meer") == "Titel en meer"
    assert join_title_summary("Titel", "Meer") == "Titel. Meer"


# --- properties on arbitrary Unicode ---------------------------------------------------------------

ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300)
HTMLISH = st.lists(st.one_of(ANY_TEXT, st.sampled_from([
    "<p>", "</p>", "<script>", "</script>", "<b>", "&amp;", "&lt;", "&gt;", "<!--", "-->", "<style>",
    "<a href='javascript:x'>", "</a>", "&#0;", "&#x202e;", "<br/>", "<", ">", "&", "\x00", "\u200b",
])), max_size=30).map("".join)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(ANY_TEXT)
def test_clean_text_properties(raw: str) -> None:
    out = clean_text(raw)
    assert not CONTROL_OR_INVISIBLE.search(out)
    assert out == out.strip()
    assert unicodedata.is_normalized("NFC", out)
    assert clean_text(out) == out  # idempotent


@FAST
@given(HTMLISH)
def test_html_to_text_properties(raw: str) -> None:
    out = html_to_text(raw)
    assert not CONTROL_OR_INVISIBLE.search(out)
    assert not re.search(r"<(?:script|style|iframe|a |p>|b>)", out, re.IGNORECASE)
    assert clean_text(out) == out
    content_hash(out)


# --- fast paths: ASCII text skips NFC/NFKD and the invisible-character pass ----------------------------


def reference_clean_text(value: str | None) -> str:
    """clean_text as first written: every pass on every text."""
    t = text_module
    if not value:
        return ""
    text = value[: MAX_TEXT_CHARS * 2]
    text = t._CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = unicodedata.normalize("NFC", t._INVISIBLE.sub("", text))
    text = t._NL.sub("\n", t._WS.sub(" ", text)).strip()
    return text[:MAX_TEXT_CHARS].rstrip() if len(text) > MAX_TEXT_CHARS else text


def reference_content_hash(text: str) -> str:
    import hashlib

    t = unicodedata.normalize("NFKD", text.lower())
    t = "".join(ch for ch in t if not unicodedata.combining(ch))
    t = text_module._URL.sub(" ", t)
    t = re.sub(r"(?<!\w)[@#]", " ", t)
    t = re.sub(r"\W+", " ", t).strip()
    return hashlib.sha256(t.encode("utf-8")).hexdigest()[:32]


@pytest.mark.parametrize("raw,expected", [
    ("a\t\tb  c d", "a b c d"),  # ASCII with tabs or double spaces: _WS still runs
    ("a b\r\nc \n  d", "a b\nc\nd"),
    ("a\x0bb\x1fc", "abc"),  # ASCII controls
    ("cafe\u0301\u00a0\u00a0bar\u200b", "café bar"),  # not ASCII: NFC, no-break spaces, invisible
    ("zo\u2003ver\u3000weg", "zo ver weg"),
])
def test_clean_text_paths(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected == reference_clean_text(raw)


def test_content_hash_paths() -> None:
    ascii_ = content_hash("Cafe in het dorp #krimp @jan https://t.co/x")
    assert ascii_ == content_hash("café in het dorp krimp jan") == content_hash("CAFE\u0301 in het DORP #KRIMP @Jan")
    assert content_hash("a#b a@b") == content_hash("a b a b") == reference_content_hash("a#b a@b")
    assert content_hash("ﬁne ² ½") == reference_content_hash("ﬁne ² ½") == content_hash("fine 2 1 2")
    assert content_hash("") == reference_content_hash("") == content_hash(" !? ")


PIECES = st.sampled_from([" ", "  ", "\t", "\n", "\r\n", "\r", "\x00", "\x0b", "\x85", "\u00a0", "\u2003",
                          "\u200b", "\u00ad", "\ufeff", "\ud800", "dorp", "De", "#", "@", "#krimp", "a#b", "_",
                          "https://t.co/x", "HTTP://X", "é", "e\u0301", "ﬁ", "²", "İ", "Σ", "😀", "東京", "!"])


@FAST
@given(st.lists(st.one_of(PIECES, ANY_TEXT), max_size=20).map("".join))
def test_fast_paths_agree_with_the_reference(raw: str) -> None:
    assert clean_text(raw) == reference_clean_text(raw)
    assert content_hash(raw) == reference_content_hash(raw)
