"""listener_theme_matcher: themes and signals from keywords_nl.txt, with sense, negation and context rules."""

from __future__ import annotations

import shutil
from bisect import bisect_left
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from spacy.attrs import LOWER
from spacy.language import Language
from spacy.tokens import Doc

from classifiers.components.view import DocView, TokenView
from classifiers.data import (
    DOC_LOCAL,
    DOC_SCAN,
    DOC_TOPICS,
    SIGNALS,
    THEMES,
    default_keywords_path,
    load_keywords,
)
from classifiers.lexicon import VISIT_BOUNDARY, VISIT_FOUND, VISIT_GUARD, VISIT_THEME, Lexicon, TypeInfo, lemma_table

for _name in ("listener_topics", "listener_local"):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)

_NONE: frozenset = frozenset()
_TOPICS, _LOCAL = DOC_TOPICS, DOC_LOCAL
MAX_GAP = 4  # words allowed where a phrase says "..."
NEG_BEFORE, NEG_AFTER = 2, 1  # negation window around a one-word signal
NEAR_MAX = 20_000  # word-type triples kept with the phrases they leave possible (cleared beyond)
# What a matched entry does in _decide, by section.
_TAG, _CHANGE, _SOLVED, _NEG, _SPOT, _LOCAL_RULE, _OTHER = range(7)
_RULES = {"verandering": _CHANGE, "opgelost": _SOLVED, "ontkenning": _NEG, "locatie": _SPOT, "lokaal": _LOCAL_RULE}


class ThemeMatcher:
    """Writes (tag, start_char, end_char) tuples to ``doc._.listener_topics`` and ``doc._.listener_local``.

    ``listener_local`` (a word from [lokaal] in the post) is only worked out when topics were found.
    The rules run on a TokenView (``topics``), so the classifier can also use them without a Doc.
    """

    def __init__(self, nlp: Language, name: str = "listener_theme_matcher") -> None:
        self.name = name
        self.vocab = nlp.vocab
        self.keywords_path: Path | None = None
        self.lexicon: Lexicon | None = None
        self._shared: list[int] = []
        self._last: tuple[str | None, TypeInfo | None] = (None, None)
        self._near: dict[tuple[int | None, int, int | None], tuple] = {}
        self.flag = self.local_flag = -1  # lexeme flag ids, set by initialize

    def initialize(self, get_examples=None, *, nlp: Language | None = None,
                   keywords_path: str | Path | None = None) -> None:
        """Load the vocabulary (explicit path, else the default resolution of keywords_nl.txt)."""
        self.keywords_path = default_keywords_path(keywords_path)
        data = load_keywords(self.keywords_path)
        self.lexicon = Lexicon(data, lemma_table())
        self._last = (None, None)
        lex = self.lexicon
        sections = [e.section for e in lex.entries]
        self._section = sections
        self._is_theme = [s in THEMES for s in sections]
        self._rule = [_RULES.get(s, _TAG if s in THEMES or s in SIGNALS else _OTHER) for s in sections]
        # per phrase: its items, the anchor item, and the items right before/after it (cheap reject)
        self._phrases = {e: (items, a, items[a - 1] if a > 0 else None,
                             items[a + 1] if a + 1 < len(items) else None)
                         for e, items in lex.item_keys.items() for a in (lex.anchor[e],)}
        self._near: dict[tuple[int | None, int, int | None], tuple] = {}
        strings = self.vocab.strings
        # Lexeme flags are computed once per word type, so the per-post work is one array
        # export and a loop over the few tokens that matter.
        # (initialize again, e.g. from_disk: the same flag bits are reused; spaCy has only 63)
        self.flag = self.vocab.add_flag(lambda text: self._type(text, strings).matters, self.flag)
        self.local_flag = self.vocab.add_flag(lambda text: self._type(text, strings).local,
                                              self.local_flag)
        self._attrs = [self.flag] + self._shared + [LOWER]

    def share_scan(self, flag: int) -> None:
        """Also export this lexeme flag in the per-Doc scan, for a later component (DOC_SCAN)."""
        self._shared.append(flag)
        if self.lexicon is not None:
            self._attrs = [self.flag] + self._shared + [LOWER]

    def triggers(self, tokens: Doc) -> bool:
        """True when these tokens (a chunk of a post) hold a word from [lokaal], without which themes
        count only in a post that names a place."""
        return any(tok.check_flag(self.local_flag) for tok in tokens)

    def _type(self, text: str, strings) -> TypeInfo:
        # both flags ask about each new word type in turn: remember the last answer
        last = self._last
        if last[0] == text:
            return last[1]
        low = text.lower()
        info = self.lexicon.info(strings.add(low), low)
        self._last = (text, info)
        return info

    def __call__(self, doc: Doc) -> Doc:
        if self.lexicon is None:
            self.initialize()
        data = doc.user_data
        arr = doc.to_array(self._attrs)
        lowers = arr[:, -1].tolist()
        if self._shared:
            data[DOC_SCAN] = ({f: arr[:, k].nonzero()[0].tolist() for k, f in enumerate(self._shared, 1)}, lowers)
        positions = arr[:, 0].nonzero()[0].tolist()
        if positions:
            lex = self.lexicon
            get = lex.cache.get
            marked = [(i, get(lowers[i]) or lex.info(lowers[i], doc[i].lower_)) for i in positions]
            topics = self.topics(DocView(doc, lowers), marked)
        else:
            topics = None
        data[_TOPICS], data[_LOCAL] = topics or ([], False)
        return doc

    def topics(self, view: TokenView,
               marked: list[tuple[int, TypeInfo]]) -> tuple[list[tuple[str, int, int]], bool] | None:
        """(topics, local) of a post, or None when it has no theme at all.

        ``marked``: (position, TypeInfo) of the tokens whose type carries the matcher's lexeme flag, in order.
        """
        lex = self.lexicon
        get = lex.cache.get
        lowers = view.lowers

        def info_at(k: int) -> TypeInfo:
            return get(lowers[k]) or lex.info(lowers[k], view.lower_text(k))

        bounds: list[int] = []
        found: list[tuple[int, TypeInfo]] = []
        guards: list[tuple[int, frozenset[str]]] = []
        theme = False
        for i, info in marked:
            visit = info.visit
            if visit & VISIT_BOUNDARY:
                bounds.append(i)
            if visit & VISIT_FOUND:
                found.append((i, info))
                if visit & VISIT_THEME:
                    theme = True
            if visit & VISIT_GUARD:
                guards.append((i, info.keys))
        if not theme:  # signals and helpers alone never tag a post
            return None
        n = view.n
        sent_of = partial(bisect_left, bounds)
        near = self._near
        raw = []
        for i, info in found:
            for e in info.hits:
                raw.append((e, i, i + 1))
            if info.starts:
                # the phrases that survive the cheap test on the neighbouring words, by word types
                key = (lowers[i - 1] if i > 0 else None, lowers[i], lowers[i + 1] if i + 1 < n else None)
                live = near.get(key)
                if live is None:
                    live = self._live_starts(info, info_at(i - 1).keys if i > 0 else _NONE,
                                             info_at(i + 1).keys if i + 1 < n else _NONE)
                    if len(near) >= NEAR_MAX:
                        near.clear()
                    near[key] = live
                if live:
                    # the sentence of token i: tokens lo+1 .. hi (bounds are the sentence-final tokens)
                    s = sent_of(i)
                    lo = bounds[s - 1] if s > 0 else -1
                    hi = bounds[s] if s < len(bounds) else n
                    for e, items, a in live:
                        span = _match_phrase(items, a, info_at, lo, hi, i, n)
                        if span:
                            raw.append((e, span[0], span[1]))
        is_theme = self._is_theme
        if not any(is_theme[e] for e, _, _ in raw):  # only a theme word gives topics
            return None
        return self._decide(view, raw, _Window(bounds, guards, sent_of, n), sent_of)

    def _live_starts(self, info: TypeInfo, prv: frozenset[str], nxt: frozenset[str]) -> tuple:
        """(entry, items, anchor) of the phrases anchored on this type whose items right before and
        after the anchor match these neighbours' forms (a cheap reject before the full match)."""
        live = []
        for e in info.starts:
            items, a, before, after = self._phrases[e]
            if after is not None and after.isdisjoint(nxt) or before is not None and before.isdisjoint(prv):
                continue
            live.append((e, items, a))
        return tuple(live)

    def _decide(self, view: TokenView, raw, window: _Window, sent_of) -> tuple[list[tuple[str, int, int]], bool]:
        entries = self.lexicon.entries
        rule = self._rule
        change, solved, negs, spots, local = set(), set(), set(), set(), False
        tags = []
        for item in raw:
            e, i, j = item
            r = rule[e]
            if r == _TAG:
                tags.append(item)
            elif r == _CHANGE:
                if not (entries[e].unless and window.guarded(entries[e].unless, i)):
                    change.add(sent_of(i))
            elif r == _SOLVED:
                solved.add(sent_of(i))
            elif r == _NEG:
                negs.add(i)
            elif r == _SPOT:
                spots.add(j)
            elif r == _LOCAL_RULE:
                local = True
        section, is_theme = self._section, self._is_theme
        kept: list[tuple[str, int, int]] = []
        any_theme = False
        for e, i, j in tags:
            entry = entries[e]
            if entry.unless and window.guarded(entry.unless, i):
                continue
            if entry.weak and (sent_of(i) not in change or (spots and not spots.isdisjoint(range(i - 2, i + 1)))):
                continue
            s = section[e]
            if not is_theme[e]:  # a signal
                if s == "probleem" and solved and sent_of(i) in solved:
                    continue
                if negs and _negated(i, j, negs, sent_of):
                    continue
            else:
                any_theme = True
            kept.append((s, i, j))
        if not any_theme:
            return [], local
        out = []
        seen = set()
        char_span = view.char_span
        for s, i, j in kept:
            key = (s, *char_span(i, j))
            if key not in seen:
                seen.add(key)
                out.append(key)
        return _drop_nested(out), local

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Save the keyword file next to the pipeline."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.keywords_path:
            shutil.copyfile(self.keywords_path, path / "keywords_nl.txt")

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> ThemeMatcher:
        """Load the keyword file saved by to_disk."""
        self.initialize(keywords_path=Path(path) / "keywords_nl.txt")
        return self


def _match_phrase(items, anchor: int, info_at, lo: int, hi: int, i: int, n: int) -> tuple[int, int] | None:
    """Match a phrase around token i, which matched item ``anchor``, within the tokens lo+1 .. hi (its
    sentence); (start, end) or None."""
    pos, gap = i + 1, False
    for item in items[anchor + 1:]:
        if item is None:
            gap = True
            continue
        for k in range(pos, min(n, pos + (MAX_GAP + 1 if gap else 1))):
            if k > hi:
                return None
            if not info_at(k).keys.isdisjoint(item):
                pos = k + 1
                break
        else:
            return None
        gap = False
    end = pos
    pos, gap = i - 1, False
    for item in reversed(items[:anchor]):
        if item is None:
            gap = True
            continue
        for k in range(pos, max(-1, pos - (MAX_GAP + 1 if gap else 1)), -1):
            if k <= lo:
                return None
            if not info_at(k).keys.isdisjoint(item):
                pos = k - 1
                break
        else:
            return None
        gap = False
    return pos + 1, end


def _negated(i: int, j: int, negs: set[int], sent_of) -> bool:
    # one-word signals look both ways ("sluit niet"); phrases only before ("niet langer leeg staat")
    for k in range(i - NEG_BEFORE, j + NEG_AFTER if j - i == 1 else i):
        if k in negs and not i <= k < j and sent_of(k) == sent_of(i):
            return True
    return False


class _Window:
    """`niet=` test: does one of these words stand in the sentence of token i or the one before/after?"""

    __slots__ = ("bounds", "guards", "n", "sent_of")

    def __init__(self, bounds: list[int], guards: list[tuple[int, frozenset[str]]], sent_of, n: int) -> None:
        # guards: the only tokens whose forms include some `niet=` word (a lexeme flag finds them)
        self.bounds, self.guards, self.sent_of, self.n = bounds, guards, sent_of, n

    def guarded(self, unless: tuple[str, ...], i: int) -> bool:
        """True when a word of ``unless`` stands within a sentence of token i."""
        if not self.guards:
            return False
        s = self.sent_of(i)
        bounds = self.bounds
        start = bounds[s - 2] + 1 if s > 1 else 0
        stop = bounds[s + 1] + 1 if s + 1 < len(bounds) else self.n
        return any(start <= k < stop and not keys.isdisjoint(unless) for k, keys in self.guards)


def _drop_nested(spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Drop evidence that lies inside a longer piece of evidence for the same tag."""
    if len(spans) < 2:
        return spans
    out = []
    for s, a, b in spans:
        for t, x, y in spans:
            if t == s and x <= a and b <= y and (x, y) != (a, b):
                break
        else:
            out.append((s, a, b))
    return out


@Language.factory("listener_theme_matcher")
def make_theme_matcher(nlp: Language, name: str) -> ThemeMatcher:
    """Theme and signal matcher driven by keywords_nl.txt (see docs/classifier.md)."""
    return ThemeMatcher(nlp, name)
