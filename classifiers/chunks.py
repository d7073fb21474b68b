"""A cache of tokenized chunks: skip posts that cannot get a tag, read the others without a Doc.

spaCy's tokenizer cuts a text at whitespace and tokenizes each chunk on its own (its own cache relies
on that); a Doc is the chunks' tokens one after the other. So the classifier tokenizes each distinct
chunk once, keeps what the components need of its tokens (its record, ``make_chunk``), and puts a
post together from its chunks (``PostView``, a TokenView like the Doc's). Building the Doc, exporting
its arrays and running the component calls cost more than all the rules together, and most posts are
decided here.

* A post gets a tag only through a place or region, or through themes in a post with a word from
  [lokaal]: both need a *trigger* token, which the components recognise in a chunk (``triggers``).
  A post without one is not tagged (no Doc, no rules).
* Posts whose chunks are separated by single spaces get a PostView; others (newlines, tabs, double
  spaces give whitespace tokens) go through the spaCy pipeline.

The one thing that crosses chunks is spaCy's special-case matcher, which runs over the whole Doc: a
match across a space never has a rule, but it can keep a special case inside a chunk from applying.
Special-case strings whose tokens are triggers are found once (``risky``: a chunk holding one counts
as a trigger), and a post with a chunk boundary where such a match could start (its two edge tokens
follow each other in some rule, ``pairs``) goes through spaCy as well.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from itertools import islice
from operator import itemgetter
from typing import TYPE_CHECKING

from spacy.attrs import ORTH
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc

from classifiers.data import LOCAL as LOCAL_BIT
from classifiers.data import PLACE as PLACE_BIT
from classifiers.data import TOPIC as TOPIC_BIT

if TYPE_CHECKING:
    from classifiers.lexicon import TypeInfo

CHUNKS_MAX = 50_000  # distinct chunks kept; the oldest quarter is dropped beyond (memory stays flat)
EDGE_END, EDGE_START = 1, 2  # the chunk's last (first) token may begin (continue) a special-case match


# A chunk's record is a plain tuple, read by position: in the compiled module a tuple item is a
# pointer read where an attribute of a class instance is a type lookup and a descriptor call, and
# the pass over a post's records (``ChunkCache.view``) is the classifier's most frequent operation.
# The positions (offsets are within the chunk):
TRIGGER = 0  # the chunk holds a trigger token (or a risky special-case string)
BITS = 1  # classifiers.data's PLACE, TOPIC and LOCAL bits as they apply, ORed with EDGE
EDGE = 2  # EDGE_END / EDGE_START
NTOK = 3  # number of tokens
MARKED = 4  # some token is visited by the theme matcher or looked up by the place linker
LOWERS = 5  # per token: hash of the lower-case form
LOWER_TEXTS = 6  # per token: lower-case text
TEXTS = 7  # per token: text
ORTHS = 8  # per token: hash of the text
OFFS = 9  # per token: character offset in the chunk
THEME = 10  # (position, TypeInfo) of the tokens the theme matcher visits
PLACE = 11  # positions of the tokens the place linker looks up
STRICT = 12  # positions of those with a case-sensitive name


def make_chunk(doc: Doc, cache: ChunkCache, trigger: bool, edge: int) -> tuple:
    """The record of one tokenized chunk (see the positions above)."""
    lowers, lower_texts, texts, orths, offs, theme, place, strict = [], [], [], [], [], [], [], []
    theme_flag, place_flag, strict_flag, type_info = cache.theme_flag, cache.place_flag, cache.strict_flag, \
        cache.type_info
    for i, t in enumerate(doc):
        lowers.append(t.lower)
        lower_texts.append(t.lower_)
        texts.append(t.text)
        orths.append(t.orth)
        offs.append(t.idx)
        # (position in the chunk, TypeInfo) of the tokens the theme matcher visits; positions of
        # the tokens the place linker looks up (and of those with a case-sensitive name)
        if t.check_flag(theme_flag):
            theme.append((i, type_info(t.lower, t.lower_)))
        if t.check_flag(place_flag):
            place.append(i)
            if t.check_flag(strict_flag):
                strict.append(i)
    bits = edge | (PLACE_BIT if place else 0) | (TOPIC_BIT if any(info.theme for _, info in theme) else 0) | \
        (LOCAL_BIT if any(info.local for _, info in theme) else 0)
    return (trigger, bits, edge, len(texts), bool(theme or place), tuple(lowers), tuple(lower_texts),
            tuple(texts), tuple(orths), tuple(offs), tuple(theme), tuple(place), tuple(strict))


_TRIGGER = itemgetter(TRIGGER)
PLAIN = re.compile(r"[0-9!-\"$-/:-@\[-`{-~]+").fullmatch  # ASCII digits and punctuation except '#'


class ChunkCache:
    """Chunk records for posts, bounded (the oldest are dropped first).

    ``tests`` say whether a tokenized chunk holds a trigger; ``flags`` are the lexeme flags of the
    theme matcher's tokens, the place linker's and its case-sensitive names'; every trigger token
    carries one of ``trigger_flags``; ``type_info(lower, lower_text)`` is the theme matcher's TypeInfo.
    """

    def __init__(self, tokenizer: Tokenizer, tests: Iterable[Callable[[Doc], bool]], flags: tuple[int, int, int],
                 trigger_flags: Iterable[int], type_info: Callable[[int, str], TypeInfo],
                 plain_ok: bool = False) -> None:
        self.tokenizer = tokenizer
        self.tests = tuple(tests)
        self.theme_flag, self.place_flag, self.strict_flag = flags
        self.type_info = type_info
        self.cache: dict[str, tuple] = {}
        self.boring: set[str] = set()  # chunks without a trigger: most posts are skipped on this set alone
        # plain_ok: no trigger word consists of ASCII digits and punctuation only (the components say)
        self.plain_ok = plain_ok
        self.unmade: dict[str, None] = {}  # boring chunks known without a record (bounded like the cache)
        self.risky, self.edge_end, self.edge_start, self.pairs = self._special_cases(tuple(trigger_flags))

    def records(self, chunks: list[str]) -> list[tuple] | None:
        """The record of every chunk (tokenizing the ones not seen yet); None when none has a trigger,
        i.e. when the post cannot get a tag."""
        if self.boring.issuperset(chunks):
            return None
        recs = list(map(self.cache.get, chunks))
        if not all(recs):  # a chunk not seen yet (records are non-empty tuples)
            if self.plain_ok and self._plain_rest(chunks, recs):
                return None
            recs = [r or self.cache.get(c) or self._make(c) for r, c in zip(recs, chunks)]
            if not any(map(_TRIGGER, recs)):
                return None
        return recs

    def view(self, text: str, chunks: list[str], recs: list[tuple]) -> PostView | None:
        """The post as a TokenView, or None when only a Doc gives its tokens for sure."""
        # One pass over the chunks (compiled, a loop with item reads beats a map/accumulate pass per
        # list): where each chunk's tokens begin, its bits ORed, the special-case edges, and per token
        # of the post its lower-case hash, text and character offset, and the positions of the tokens
        # the rules visit. The rules then read a token by index instead of finding its chunk first.
        pairs = self.pairs
        starts, lowers, texts, offs = [0], [], [], []
        theme: list[tuple[int, TypeInfo]] = []
        place: list[int] = []
        strict: list[int] = []
        bits = ntok = nchar = prev = 0
        last: tuple[str, ...] = ()
        for k in range(len(recs)):
            # unpacked at once (the order of the positions above): compiled, one check of the tuple's
            # size instead of a generic item lookup per field
            _, b, _, n, marked, c_lowers, _, c_texts, _, c_offs, c_theme, c_place, c_strict = recs[k]
            # a special-case match may run across this space: only the Doc knows (rare)
            if b & EDGE_START and prev & EDGE_END and (last[-1], c_texts[0]) in pairs:
                return None
            if marked:  # positions in the post of the tokens the components visit
                for r, info in c_theme:
                    theme.append((ntok + r, info))
                for r in c_place:
                    place.append(ntok + r)
                for r in c_strict:
                    strict.append(ntok + r)
            bits |= b
            prev = b
            last = c_texts
            ntok += n
            starts.append(ntok)
            lowers.extend(c_lowers)
            texts.extend(c_texts)
            first = nchar + k  # chunk k begins after the chunks before it and k spaces
            for o in c_offs:
                offs.append(first + o)
            nchar += len(chunks[k])
        gaps = len(chunks) - 1
        # the chunks hold no whitespace: single spaces between them, and nothing else, iff this holds
        if nchar + gaps != len(text) or text.count(" ") != gaps:
            return None  # other whitespace than single spaces: the Doc has whitespace tokens
        return PostView(text, recs, bits, starts, lowers, texts, offs, (theme, place, strict))

    def _plain_rest(self, chunks: list[str], recs: list[tuple | None]) -> bool:
        """True when the known chunks hold no trigger and the new ones are only ASCII digits and
        punctuation (no '#', no special case with a trigger): then no chunk can hold a trigger, and
        the new ones are remembered as such without tokenizing them (numbers, times, "(3)")."""
        if any(map(_TRIGGER, filter(None, recs))):
            return False
        new = [c for r, c in zip(recs, chunks) if r is None]
        if not all(map(PLAIN, new)) or any(r in c for c in new for r in self.risky):
            return False
        unmade = self.unmade
        if len(unmade) >= CHUNKS_MAX:
            for key in list(islice(unmade, len(unmade) - CHUNKS_MAX * 3 // 4)):
                del unmade[key]
                if key not in self.cache:
                    self.boring.discard(key)
        unmade.update(dict.fromkeys(new))
        self.boring.update(new)
        return True

    def _make(self, chunk: str) -> tuple:
        cache = self.cache
        if len(cache) >= CHUNKS_MAX:
            for key in list(islice(cache, len(cache) - CHUNKS_MAX * 3 // 4)):
                del cache[key]
                self.boring.discard(key)
        doc = self.tokenizer(chunk)
        trigger = any(r in chunk for r in self.risky) or any(test(doc) for test in self.tests)
        edge = EDGE_END if doc[-1].text in self.edge_end else 0
        edge |= EDGE_START if doc[0].text in self.edge_start else 0
        rec = cache[chunk] = make_chunk(doc, self, trigger, edge)
        if not trigger:
            self.boring.add(chunk)
        return rec

    def _special_cases(self, flags: tuple[int, ...]) -> tuple[tuple[str, ...], frozenset, frozenset, frozenset]:
        """Special-case strings with trigger tokens; what may end/start a match across chunks.

        The special-case matcher matches the affix tokens of a rule (``pieces``) and puts the rule's own
        tokens in their place, so a chunk's edge token stands for either. A match across a chunk
        boundary needs the two edge tokens to follow each other in some rule's pieces (``pairs``).
        """
        tok = self.tokenizer
        vocab = tok.vocab
        plain = Tokenizer(vocab, rules={}, prefix_search=tok.prefix_search, suffix_search=tok.suffix_search,
                          infix_finditer=tok.infix_finditer, token_match=tok.token_match, url_match=tok.url_match)
        risky, rules = [], []
        for string, substrings in tok.rules.items():
            pieces = [t.text for t in plain(string)]
            own = [d[ORTH] for d in substrings]
            if any(vocab[w].check_flag(f) for w in pieces + own for f in flags):
                risky.append(string)
            if own:
                rules.append((pieces, own))
        pairs = {(a, b) for pieces, _ in rules for a, b in zip(pieces, pieces[1:])}
        # an edge token may be a rule's own last (first) token standing for its last (first) piece
        after: dict[str, set[str]] = {}
        for a, b in pairs:
            after.setdefault(a, set()).add(b)
        for pieces, own in rules:
            for b in after.get(pieces[-1], ()):
                pairs.add((own[-1], b))
        before: dict[str, set[str]] = {}
        for a, b in pairs:
            before.setdefault(b, set()).add(a)
        for pieces, own in rules:
            for a in before.get(pieces[0], ()):
                pairs.add((a, own[0]))
        ends = {a for a, _ in pairs}
        starts = {b for _, b in pairs}
        return tuple(risky), frozenset(ends), frozenset(starts), frozenset(pairs)


class PostView:
    """TokenView of a post put together from its chunk records by ``ChunkCache.view`` (single spaces
    between chunks).

    ``bits``: its chunks' bits ORed (PLACE, TOPIC, LOCAL, edges). Token i lives in chunk k, the last
    with ``starts[k] <= i``; ``lowers``, ``texts`` and ``offs`` hold each token's lower-case hash,
    text and character offset in the post; ``marked()`` the positions the components visit.
    """

    __slots__ = ("bits", "lowers", "marks", "n", "offs", "post", "recs", "starts", "texts")

    def __init__(self, post: str, recs: list[tuple], bits: int, starts: list[int], lowers: list[int],
                 texts: list[str], offs: list[int], marks: tuple[list, list, list]) -> None:
        self.post, self.recs, self.bits, self.starts = post, recs, bits, starts
        self.lowers, self.texts, self.offs, self.marks = lowers, texts, offs, marks
        self.n = len(lowers)

    def marked(self) -> tuple[list[tuple[int, TypeInfo]], list[int], list[int]]:
        """For ThemeMatcher.topics: (position, TypeInfo) of its tokens; for PlaceLinker.link: the
        positions of its tokens and of the case-sensitive names among them (read only)."""
        return self.marks

    def themes(self) -> list[tuple[int, TypeInfo]]:
        """(position, TypeInfo) of the tokens ThemeMatcher.topics visits, in order."""
        return self.marks[0]

    def places(self) -> tuple[list[int], list[int]]:
        """Positions of the tokens PlaceLinker.link looks up, and of the case-sensitive names among them."""
        _, place, strict = self.marks
        return place, strict

    def lower(self, i: int) -> int:
        return self.lowers[i]

    def orth(self, i: int) -> int:
        k = bisect_right(self.starts, i) - 1
        return self.recs[k][ORTHS][i - self.starts[k]]

    def text(self, i: int) -> str:
        return self.texts[i]

    def lower_text(self, i: int) -> str:
        k = bisect_right(self.starts, i) - 1
        return self.recs[k][LOWER_TEXTS][i - self.starts[k]]

    def idx(self, i: int) -> int:
        return self.offs[i]

    def end(self, i: int) -> int:
        return self.offs[i] + len(self.texts[i])

    def span_text(self, start: int, end: int) -> str:
        return self.post[self.offs[start]:self.offs[end - 1] + len(self.texts[end - 1])] if end > start else ""

    def char_span(self, start: int, end: int) -> tuple[int, int]:
        """(idx(start), end(end - 1))."""
        offs = self.offs
        return offs[start], offs[end - 1] + len(self.texts[end - 1])
