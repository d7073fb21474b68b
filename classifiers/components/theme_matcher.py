"""listener_theme_matcher: themes and signals from keywords_nl.txt, with sense, negation and context rules."""

from __future__ import annotations

import shutil
from bisect import bisect_left
from pathlib import Path
from typing import Iterable

from spacy.attrs import LOWER
from spacy.language import Language
from spacy.tokens import Doc

from classifiers.data import DOC_LOCAL, DOC_TOPICS, SIGNALS, THEMES, default_keywords_path, load_keywords
from classifiers.lexicon import Lexicon

for _name in ("listener_topics", "listener_local"):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)

_NONE: frozenset = frozenset()
_TOPICS, _LOCAL = DOC_TOPICS, DOC_LOCAL
MAX_GAP = 4  # words allowed where a phrase says "..."
NEG_BEFORE, NEG_AFTER = 2, 1  # negation window around a one-word signal


def _lemma_table() -> dict | None:
    try:
        from spacy.lookups import load_lookups

        return load_lookups("nl", ["lemma_lookup"]).get_table("lemma_lookup")
    except (ImportError, ValueError, KeyError):  # spacy-lookups-data missing: inflection rules only
        return None


class ThemeMatcher:
    """Writes (tag, start_char, end_char) tuples to ``doc._.listener_topics`` and ``doc._.listener_local``."""

    def __init__(self, nlp: Language, name: str = "listener_theme_matcher") -> None:
        self.name = name
        self.vocab = nlp.vocab
        self.keywords_path: Path | None = None
        self.lexicon: Lexicon | None = None

    def initialize(self, get_examples=None, *, nlp: Language | None = None,
                   keywords_path: str | Path | None = None) -> None:
        """Load the vocabulary (explicit path, else the default resolution of keywords_nl.txt)."""
        self.keywords_path = default_keywords_path(keywords_path)
        data = load_keywords(self.keywords_path)
        self.lexicon = Lexicon(data, _lemma_table())
        lex = self.lexicon
        self._section = [e.section for e in lex.entries]
        self._is_theme = [e.section in THEMES for e in lex.entries]
        self._is_signal = [e.section in SIGNALS for e in lex.entries]
        strings = self.vocab.strings
        # A lexeme flag marks word types that matter, so the hot loop skips all other tokens.
        self._flag = self.vocab.add_flag(lambda text: self._interesting(text, strings))

    def _interesting(self, text: str, strings) -> bool:
        low = text.lower()
        info = self.lexicon.info(strings.add(low), low)
        return bool(info.hits or info.starts or info.boundary)

    def __call__(self, doc: Doc) -> Doc:
        if self.lexicon is None:
            self.initialize()
        lex = self.lexicon
        cache = lex.cache
        strings = self.vocab.strings
        arr = doc.to_array([self._flag, LOWER])
        positions = arr[:, 0].nonzero()[0].tolist()
        bounds: list[int] = []
        found: list[int] = []
        theme = False
        if positions:
            lowers = arr[:, 1].tolist()
            for i in positions:
                h = lowers[i]
                info = cache.get(h) or lex.info(h, strings[h])
                if info.boundary:
                    bounds.append(i)
                if info.hits or info.starts:
                    found.append(i)
                    theme = theme or info.theme
        if not theme:  # signals and helpers alone never tag a post
            data = doc.user_data
            data[_TOPICS], data[_LOCAL] = [], False
            return doc
        sent_of = _Sentences(bounds)
        infos = _Infos(lowers, lex, strings)
        raw = []
        for i in found:
            info = infos[i]
            if info.hits:
                raw.extend((e, i, i + 1) for e in info.hits)
            if info.starts:
                nxt = infos[i + 1].keys if i + 1 < infos.n else _NONE
                prv = infos[i - 1].keys if i > 0 else _NONE
                for e in info.starts:
                    items, a = lex.item_keys[e], lex.anchor[e]
                    # cheap reject on the neighbouring word before the full match
                    if a + 1 < len(items) and items[a + 1] is not None and nxt.isdisjoint(items[a + 1]):
                        continue
                    if a > 0 and items[a - 1] is not None and prv.isdisjoint(items[a - 1]):
                        continue
                    span = self._match_phrase(items, a, infos, sent_of, i)
                    if span:
                        raw.append((e, span[0], span[1]))
        data = doc.user_data
        data[_TOPICS], data[_LOCAL] = self._decide(doc, raw, infos, sent_of)
        return doc

    @staticmethod
    def _match_phrase(items, anchor: int, infos, sent_of, i: int) -> tuple[int, int] | None:
        """Match a phrase around token i, which matched item ``anchor``; (start, end) or None."""
        sent = sent_of[i]
        n = infos.n
        pos, gap = i + 1, False
        for item in items[anchor + 1:]:
            if item is None:
                gap = True
                continue
            for k in range(pos, min(n, pos + (MAX_GAP + 1 if gap else 1))):
                if sent_of[k] != sent:
                    return None
                if not infos[k].keys.isdisjoint(item):
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
                if sent_of[k] != sent:
                    return None
                if not infos[k].keys.isdisjoint(item):
                    pos = k - 1
                    break
            else:
                return None
            gap = False
        return pos + 1, end

    def _decide(self, doc: Doc, raw, infos, sent_of) -> tuple[list[tuple[str, int, int]], bool]:
        entries = self.lexicon.entries
        section = self._section
        change, solved, negs, spots, local = set(), set(), set(), set(), False
        for e, i, j in raw:
            s = section[e]
            if s == "verandering" and not self._guarded(entries[e], infos, sent_of, i):
                change.add(sent_of[i])
            elif s == "opgelost":
                solved.add(sent_of[i])
            elif s == "ontkenning":
                negs.add(i)
            elif s == "locatie":
                spots.add(j)
            elif s == "lokaal":
                local = True
        kept: list[tuple[str, int, int, bool]] = []
        for e, i, j in raw:
            s = section[e]
            if not (self._is_theme[e] or self._is_signal[e]):
                continue
            entry = entries[e]
            if entry.unless and self._guarded(entry, infos, sent_of, i):
                continue
            if entry.weak and (sent_of[i] not in change or (spots and not spots.isdisjoint(range(i - 2, i + 1)))):
                continue
            if self._is_signal[e]:
                if s == "probleem" and sent_of[i] in solved:
                    continue
                if negs and self._negated(i, j, negs, sent_of):
                    continue
            kept.append((s, i, j, self._is_theme[e]))
        if not any(t for *_, t in kept):
            return [], local
        out = []
        seen = set()
        for s, i, j, _ in kept:
            start = doc[i].idx
            end = doc[j - 1].idx + len(doc[j - 1].text)
            if (s, start, end) not in seen:
                seen.add((s, start, end))
                out.append((s, start, end))
        return _drop_nested(out), local

    @staticmethod
    def _guarded(entry, infos, sent_of, i: int) -> bool:
        """True when a `niet=` word stands in the sentence of token i or the one before or after."""
        if not entry.unless:
            return False
        s = sent_of[i]
        memo = infos.window_keys
        keys = memo.get(s)
        if keys is None:
            bounds = sent_of.bounds
            start = bounds[s - 2] + 1 if s > 1 else 0
            stop = bounds[s + 1] + 1 if s + 1 < len(bounds) else infos.n
            keys = memo[s] = frozenset().union(*(infos[k].keys for k in range(start, stop)))
        return not keys.isdisjoint(entry.unless)

    @staticmethod
    def _negated(i: int, j: int, negs: set[int], sent_of) -> bool:
        # one-word signals look both ways ("sluit niet"); phrases only before ("niet langer leeg staat")
        for k in range(i - NEG_BEFORE, j + NEG_AFTER if j - i == 1 else i):
            if k in negs and k not in range(i, j) and sent_of[k] == sent_of[i]:
                return True
        return False

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Save the keyword file next to the pipeline."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.keywords_path:
            shutil.copyfile(self.keywords_path, path / "keywords_nl.txt")

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "ThemeMatcher":
        """Load the keyword file saved by to_disk."""
        self.initialize(keywords_path=Path(path) / "keywords_nl.txt")
        return self


class _Sentences:
    """Sentence number of a token, from the positions of sentence-final tokens."""

    __slots__ = ("bounds",)

    def __init__(self, bounds: list[int]) -> None:
        self.bounds = bounds

    def __getitem__(self, i: int) -> int:
        return bisect_left(self.bounds, i)


class _Infos:
    """TypeInfo of a token position, looked up on demand."""

    __slots__ = ("lowers", "lex", "strings", "n", "window_keys")

    def __init__(self, lowers: list[int], lex: Lexicon, strings) -> None:
        self.lowers, self.lex, self.strings, self.n = lowers, lex, strings, len(lowers)
        self.window_keys: dict[int, frozenset[str]] = {}

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        h = self.lowers[i]
        return self.lex.cache.get(h) or self.lex.info(h, self.strings[h])  # noqa: E501


def _drop_nested(spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Drop evidence that lies inside a longer piece of evidence for the same tag."""
    out = []
    for s, a, b in spans:
        if not any(t == s and x <= a and b <= y and (x, y) != (a, b) for t, x, y in spans):
            out.append((s, a, b))
    return out


@Language.factory("listener_theme_matcher")
def make_theme_matcher(nlp: Language, name: str) -> ThemeMatcher:
    """Theme and signal matcher driven by keywords_nl.txt (see docs/classifier.md)."""
    return ThemeMatcher(nlp, name)
