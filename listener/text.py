"""Text cleaning for untrusted input: HTML to text, control characters, whitespace, hashes."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from html.parser import HTMLParser

_DROP_TAGS = {"script", "style", "template", "noscript", "iframe", "object", "svg", "head"}
_BLOCK_TAGS = {"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote", "section", "article"}
# C0/C1 controls except tab and newline, plus lone surrogates and non-characters.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_WS = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_NL = re.compile(r"\s*\n\s*")
_URL = re.compile(r"https?://\S+")


class _Stripper(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._drop = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:  # type: ignore[override]
        if tag in _DROP_TAGS:
            self._drop += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list) -> None:  # type: ignore[override]
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_TAGS:
            self._drop = max(0, self._drop - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._drop:
            self.parts.append(data)


def html_to_text(value: str | None) -> str:
    """Strip tags (dropping scripts and styles), unescape entities, tidy whitespace."""
    if not value:
        return ""
    if "<" not in value and "&" not in value:
        return clean_text(value)
    parser = _Stripper()
    try:
        parser.feed(value)
        parser.close()
        text = "".join(parser.parts)
    except Exception:  # noqa: BLE001 - malformed markup: fall back to a crude strip
        text = html.unescape(re.sub(r"<[^>]*>", " ", value))
    return clean_text(text)


def clean_text(value: str | None) -> str:
    """NFC-normalise, drop control characters and surrogates, collapse whitespace."""
    if not value:
        return ""
    text = unicodedata.normalize("NFC", value)
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _WS.sub(" ", text)
    text = _NL.sub("\n", text)
    return text.strip()


def join_title_summary(title: str, summary: str) -> str:
    """``Title. Summary`` as in the labelled data, without doubling a title repeated in the summary."""
    title, summary = title.strip(), summary.strip()
    if not summary or summary == title:
        return title
    if not title or summary.startswith(title):
        return summary
    sep = "" if title[-1:] in ".!?:" else "."
    return f"{title}{sep} {summary}"


def content_hash(text: str) -> str:
    """A hash of the normalised text, equal for the same item reaching us twice.

    Case, accents, punctuation, URLs, @mentions, hashtag signs and whitespace do not count, so
    a repost or the same news item in two feeds gets the same hash.
    """
    t = unicodedata.normalize("NFKD", text.lower())
    t = "".join(ch for ch in t if not unicodedata.combining(ch))
    t = _URL.sub(" ", t)
    t = re.sub(r"(?<!\w)[@#]", " ", t)
    t = re.sub(r"\W+", " ", t).strip()
    return hashlib.sha256(t.encode("utf-8")).hexdigest()[:32]
