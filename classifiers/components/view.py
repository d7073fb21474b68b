"""The tokens of one post as the components read them: a spaCy Doc, or the classifier's chunk cache.

The rules of both components only ever ask for a few tokens of a post (the ones a lexeme flag marks,
and their neighbours), so they read them through this small interface. ``DocView`` serves it from a
Doc (the spaCy components); ``classifiers.chunks.PostView`` serves the same answers from cached
tokenizations of the post's whitespace-separated chunks, without building a Doc at all.
"""

from __future__ import annotations

from typing import Protocol

from spacy.tokens import Doc


class TokenView(Protocol):
    """Token i of a post: ``n`` tokens, ``lowers[i]`` the hash of its lower-case form."""

    n: int
    lowers: list[int]

    def lower(self, i: int) -> int: ...  # lowers[i]

    def orth(self, i: int) -> int: ...  # hash of the text as written

    def text(self, i: int) -> str: ...

    def lower_text(self, i: int) -> str: ...

    def idx(self, i: int) -> int: ...  # character offset in the post

    def end(self, i: int) -> int: ...  # character offset just after the token

    def span_text(self, start: int, end: int) -> str: ...  # like doc[start:end].text

    def char_span(self, start: int, end: int) -> tuple[int, int]: ...  # (idx(start), end(end - 1))


class DocView:
    """TokenView of a spaCy Doc (``lowers``: the LOWER column of ``Doc.to_array``)."""

    __slots__ = ("doc", "lower", "lowers", "n")

    def __init__(self, doc: Doc, lowers: list[int]) -> None:
        self.doc, self.n, self.lowers = doc, len(doc), lowers
        self.lower = lowers.__getitem__

    def orth(self, i: int) -> int:
        return self.doc[i].orth

    def text(self, i: int) -> str:
        return self.doc[i].text

    def lower_text(self, i: int) -> str:
        return self.doc[i].lower_

    def idx(self, i: int) -> int:
        return self.doc[i].idx

    def end(self, i: int) -> int:
        tok = self.doc[i]
        return tok.idx + len(tok)

    def span_text(self, start: int, end: int) -> str:
        return self.doc[start:end].text

    def char_span(self, start: int, end: int) -> tuple[int, int]:
        return self.idx(start), self.end(end - 1)
