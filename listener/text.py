"""Text cleaning for untrusted input: HTML to text, control characters, whitespace, hashes."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from html.parser import HTMLParser

# Elements whose content is never text for a reader (void elements such as <embed> carry none).
_DROP_TAGS = {"script", "style", "template", "noscript", "iframe", "object", "svg", "math", "head",
              "frameset", "noembed", "noframes", "xmp"}
_BLOCK_TAGS = {"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote", "section", "article"}
# C0/C1 controls except tab and newline, plus lone surrogates and non-characters.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
# Invisible format characters: bidi overrides and isolates (which can make text read differently
# from how it is stored), zero-width characters, soft hyphens, the BOM, interlinear annotations
# and Unicode tag characters (used to smuggle hidden text). A word split by one of them
# ("Geld\u200bmaat") would also escape the keyword matcher.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\u3164\ufe00-\ufe0e\ufeff\uffa0\ufff0-\ufffb\U000e0000-\U000e007f]"
)
_WS = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_NL = re.compile(r"[ \t]*\n\s*")
_URL = re.compile(r"https?://\S+")
_WORD = re.compile(r"\w+")
# ASCII characters that are not \w, to a space: for ASCII text, ``" ".join(t.translate(..).split())``
# is ``re.sub(r"\W+", " ", t).strip()`` without the regular expression.
_ASCII_NON_WORD = str.maketrans({c: " " for c in map(chr, range(128)) if not _WORD.match(c)})
_TAG_LIKE = re.compile(r"<[A-Za-z!/?]")
_TAG = re.compile(r"<[A-Za-z!/?][^<>]{0,2000}(?:>|$)")
_ESCAPED_TAG = re.compile(r"(?i)&(?:lt|#0*60|#x0*3c);[A-Za-z!/?]")
# Bounds on untrusted input: no post is this long, and the work done on one stays bounded.
MAX_HTML_CHARS = 1_000_000
MAX_TEXT_CHARS = 100_000
_MAX_PASSES = 3


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


def _strip_once(value: str) -> str:
    parser = _Stripper()
    try:
        parser.feed(value)
        parser.close()
        return "".join(parser.parts)
    except Exception:  # noqa: BLE001 - malformed markup: fall back to a crude strip
        return html.unescape(_TAG.sub(" ", value))


def html_to_text(value: str | None) -> str:
    """Strip tags (dropping scripts and styles), unescape entities, tidy whitespace.

    Markup that was escaped twice ("&amp;lt;script&amp;gt;") is stripped again, so the result
    holds no tags. Example: ``html_to_text("<p>Dorpshuis <b>open</b></p><script>x()</script>")``
    → ``"Dorpshuis open"``
    """
    if not value:
        return ""
    text = value[:MAX_HTML_CHARS]
    for _ in range(_MAX_PASSES):
        if "<" not in text and "&" not in text:
            break
        before = text
        text = _strip_once(text)
        if text == before or not (_TAG_LIKE.search(text) or _ESCAPED_TAG.search(text)):
            break
    if _TAG_LIKE.search(text):
        text = _TAG.sub(" ", text)
    return clean_text(text)


def clean_text(value: str | None) -> str:
    """NFC-normalise, drop control and invisible characters and surrogates, collapse whitespace.

    Example: ``clean_text("Geld\u200bmaat\x00  sluit\r\n")`` → ``"Geldmaat sluit"``
    """
    if not value:
        return ""
    text = value[: MAX_TEXT_CHARS * 2]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Lone surrogates (from invalid UTF-8 decoded with surrogateescape) cannot be normalised.
    text = _CONTROL.sub("", text)
    if text.isascii():
        # Every invisible character is non-ASCII and NFC leaves ASCII as it is; the only ASCII
        # characters of _WS are space and tab, and a single space stays a single space.
        if "\t" in text or "  " in text:
            text = _WS.sub(" ", text)
    else:
        text = unicodedata.normalize("NFC", _INVISIBLE.sub("", text))
        text = _WS.sub(" ", text)
    if "\n" in text:
        text = _NL.sub("\n", text)
    text = text.strip()
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS].rstrip()
    return text


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
    t = text.lower()
    if not t.isascii():  # NFKD leaves ASCII as it is, and no ASCII character is a combining one
        t = unicodedata.normalize("NFKD", t)
        if not t.isascii():
            t = "".join(ch for ch in t if not unicodedata.combining(ch))
    if "://" in t:
        t = _URL.sub(" ", t)
    # "@" and "#" are not \w: turning them into spaces (as this once did first) changes no run of
    # non-word characters, so it changes no hash.
    if t.isascii():
        t = " ".join(t.translate(_ASCII_NON_WORD).split())
    else:
        t = " ".join(_WORD.findall(t))  # = re.sub(r"\W+", " ", t).strip(): no \w is white space
    return hashlib.sha256(t.encode("utf-8")).hexdigest()[:32]
