"""AnchoredPhrases: the matches of a PhraseMatcher, found from the few tokens that carry a lexeme flag.

A PhraseMatcher call walks every token of a post: 3-6 µs here, a quarter of tokenizing it, even when
nothing matches. Here each phrase is filed under one of its words, its *anchor* (the rarest-looking one), a
lexeme flag marks anchor words, and a post is only looked at around its flagged tokens. The matches
are the same, in the same order: by start, then end, then the order the PhraseMatcher itself gives
to labels sharing one phrase (recorded once from a real PhraseMatcher).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from spacy.attrs import LOWER, ORTH
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from classifiers.components.view import TokenView


class AnchoredPhrases:
    """Phrases (as Docs, compared on LOWER or ORTH) indexed by an anchor word.

    The anchor of a phrase is a word that is a phrase of its own (it is looked up anyway), else the
    least ``common`` one (see ``everyday_words``), used by the fewest phrases, the longest, the last:
    *Ter |Apel|*, *Nieuwe-|Tonge|*, *De |Jouwer|*, *Echt-|Susteren|*, *Ajax |Amsterdam|*.
    """

    def __init__(self, vocab, attr: str, common: Callable[[str], int]) -> None:
        self.vocab = vocab
        self.attr = attr.lower()  # "lower" or "orth": the Token attribute compared
        self._attr_id = {"lower": LOWER, "orth": ORTH}[self.attr]
        self.common = common
        self._docs: dict[tuple[str, ...], Doc] = {}
        self._labels: dict[tuple[str, ...], list[str]] = {}
        self.index: dict[int, list[tuple[tuple[int, ...], int, tuple[int, ...]]]] = {}

    def add(self, label: str, docs: Iterable[Doc]) -> None:
        """Add phrases under a label (like PhraseMatcher.add)."""
        for doc in docs:
            words = tuple(getattr(t, self.attr + "_") for t in doc)
            if words:
                self._docs.setdefault(words, doc)
                labels = self._labels.setdefault(words, [])
                if label not in labels:
                    labels.append(label)

    def finish(self) -> set[str]:
        """Build the index; returns the anchor words (strings) that the lexeme flag has to mark."""
        strings = self.vocab.strings
        matcher = PhraseMatcher(self.vocab, attr=self._attr_id)
        for words, labels in self._labels.items():
            for label in labels:
                matcher.add(label, [self._docs[words]])
        # how many phrases use a word: "nieuwe", "sint", "aan" are poor anchors, "pekela" a good one
        spread: dict[str, int] = {}
        for words in self._labels:
            for w in set(words):
                spread[w] = spread.get(w, 0) + 1
        singles = {words[0] for words in self._labels if len(words) == 1}  # anchors anyway
        anchors = set()
        self.index = {}
        for words, labels in self._labels.items():
            hashes = tuple(strings.add(w) for w in words)
            ids = [strings.add(label) for label in labels]
            if len(ids) > 1:  # several labels on one phrase: keep the PhraseMatcher's order
                full = [m for m, s, e in matcher(self._docs[words]) if (s, e) == (0, len(words))]
                ids = [m for m in full if m in ids]
            a = max(range(len(words)), key=lambda i: (words[i] in singles, -self.common(words[i]),
                                                      -spread[words[i]], len(words[i]), i))
            anchors.add(words[a])
            self.index.setdefault(hashes[a], []).append((hashes, a, tuple(ids)))
        self._docs.clear()
        return anchors

    def find(self, view: TokenView, positions: Iterable[int]) -> list[tuple[int, int, int]]:
        """(label, start, end) of every phrase whose anchor is one of the tokens at ``positions``."""
        index, n = self.index, view.n
        value = view.lowers.__getitem__ if self._attr_id == LOWER else view.orth  # no method call per token
        found = []
        for i in positions:
            for hashes, a, ids in index.get(value(i), ()):
                start = i - a
                end = start + len(hashes)
                if start < 0 or end > n:
                    continue
                if len(hashes) > 1 and any(value(start + k) != h for k, h in enumerate(hashes) if k != a):
                    continue
                found.append((start, end, ids))
        if len(found) > 1:
            found.sort(key=lambda m: (m[0], m[1]))
        return [(label, start, end) for start, end, ids in found for label in ids]


def everyday_words(stop_words: Iterable[str]) -> Callable[[str], int]:
    """How common a word is: 3 punctuation, 2 a stop word or one or two letters, 1 (a stem of) a lemma
    in spaCy's Dutch table, else 0."""
    from classifiers.lexicon import lemma_table, stems

    lemmas = set((lemma_table() or {}).values())
    stop = set(stop_words)

    def rank(w: str) -> int:
        if not any(c.isalpha() for c in w):
            return 3
        return 2 if w in stop or len(w) <= 2 else 1 if any(s in lemmas for s in stems(w, None)) else 0

    return rank
