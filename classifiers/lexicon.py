"""Word-type analysis: lemma, de-inflected stems, compound parts and keyword hits, cached per type."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice

from classifiers.data import GAP, THEMES, Entry, KeywordData, fold

# Inflection endings tried when reducing a word to its base (plural, diminutive, verb forms).
_ENDINGS = ("etjes", "etje", "tjes", "pjes", "kjes", "'tje", "tje", "pje", "jes", "je", "kes",
            "'s", "en", "es", "s", "e", "t", "de", "te", "den", "ten", "ke")
_VOWELS = set("aeiou")
_BOUNDARY = {".", "!", "?", "…", "\n", "\n\n", "!!", "??", "?!", "!?", "...", ";"}
MIN_PART = 3  # shortest keyword that may stand as part of a compound
FUZZY_MIN = 8  # shortest word that may be a misspelling of a keyword
# TypeInfo.visit: boundary, some hit or phrase start, a theme among them, a guard word
VISIT_BOUNDARY, VISIT_FOUND, VISIT_THEME, VISIT_GUARD = 1, 2, 4, 8
CACHE_MAX = 50_000  # word types kept analysed; the oldest quarter is dropped beyond (a miss re-analyses)


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """What one word type (lower-case form) means to the matcher."""

    keys: frozenset[str]  # its forms (word, lemma, stems) that occur in a phrase or a `niet=` list
    hits: tuple[int, ...]  # indices of single-word entries it matches
    starts: tuple[int, ...]  # indices of multi-word entries that may start here
    boundary: bool  # ends a sentence (., !, ?, emoji, newline)
    theme: bool = False  # some hit or phrase start belongs to a theme section
    local: bool = False  # some hit or phrase start belongs to [lokaal]
    guard: bool = False  # one of its forms is a `niet=` word of some entry
    # boundary, hits or starts, theme and guard as one number (VISIT_*), derived: ThemeMatcher.topics
    # asks them of every token it visits, and one attribute read costs a quarter of four
    visit: int = field(init=False, default=0, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "visit", (VISIT_BOUNDARY if self.boundary else 0)
                           | (VISIT_FOUND if self.hits or self.starts else 0)
                           | (VISIT_THEME if self.theme else 0) | (VISIT_GUARD if self.guard else 0))

    @property
    def matters(self) -> bool:
        """True when the per-post loop has to visit tokens of this type."""
        return bool(self.hits or self.starts or self.boundary or self.guard)


_PLAIN = TypeInfo(frozenset(), (), (), False)  # shared by the many types that matter to nothing


@lru_cache(maxsize=1)
def lemma_table() -> dict | None:
    """spaCy's Dutch lemma lookup table (spacy-lookups-data), loaded once; None when not installed."""
    try:
        from spacy.lookups import load_lookups

        return load_lookups("nl", ["lemma_lookup"]).get_table("lemma_lookup")
    except (ImportError, ValueError, KeyError):  # spacy-lookups-data missing: inflection rules only
        return None


def _undouble(base: str) -> list[str]:
    out = [base]
    if len(base) >= 2 and base[-1] == base[-2] and base[-1] not in _VOWELS:
        out.append(base[:-1])  # bussen → bus
    if base.endswith("z"):
        out.append(base[:-1] + "s")  # huizen → huis
    if base.endswith("v"):
        out.append(base[:-1] + "f")  # dorpsbelangen ok; brieven → brief
    if len(base) >= 3 and base[-1] not in _VOWELS and base[-2] in _VOWELS and base[-3] not in _VOWELS:
        out.append(base[:-1] + base[-2] + base[-1])  # scholen → school, straten → straat
    return out


def stems(word: str, lemma: str | None) -> set[str]:
    """Plausible base forms of a folded word (the word itself included)."""
    out = {word}
    if lemma:
        out.add(fold(lemma))
    for end in _ENDINGS:
        if word.endswith(end) and len(word) - len(end) >= 3:
            out.update(_undouble(word[: -len(end)]))
    return out


# Very frequent words: a phrase is looked up through another of its words (speed only).
_COMMON = set("de het een te naar om in op niet geen is zijn we wie en of bij van voor met er nog maar per "
              "heeft hebben meer niks niets kom wel ook dat die dit hier daar als dan zo al u je jij ik "
              "gaat gaan staat staan loopt houden 1 1x eens doen doet moeten moet allemaal dag nieuwe "
              "wordt worden blijft iedereen zelf nog kan kunnen willen wil".split())


def _anchor(words: tuple[str, ...]) -> int:
    """Index of the word to look a phrase up by: the longest word that is not very frequent."""
    best, best_len = 0, -1
    for i, w in enumerate(words):
        if w == GAP:
            continue
        length = len(w) + (100 if w not in _COMMON else 0)
        if length > best_len:
            best, best_len = i, length
    return best


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def _is_emoji(text: str) -> bool:
    return any(unicodedata.category(c) == "So" for c in text)


class Lexicon:
    """Keyword index over keywords_nl.txt with a per-type cache (the hot path is one dict get)."""

    def __init__(self, keywords: KeywordData, lemma_table: dict | None = None) -> None:
        self.entries: list[Entry] = []
        for section, entries in keywords.sections.items():
            self.entries.extend(entries)
        self.lemmas = lemma_table or {}
        self.exceptions = {e.words[0] for e in keywords.entries("uitzondering") if len(e.words) == 1}
        self.whole: dict[str, list[int]] = {}
        self.head: dict[str, list[int]] = {}
        self.begin: dict[str, list[int]] = {}
        self.first: dict[str, list[int]] = {}
        self.fuzzy: dict[str, list[int]] = {}
        self.item_keys: dict[int, tuple[frozenset[str] | None, ...]] = {}
        self.anchor: dict[int, int] = {}  # the item of a phrase that is looked up first (rarest)
        for idx, e in enumerate(self.entries):
            if e.section == "uitzondering":
                continue
            if len(e.words) == 1:
                word = e.words[0]
                for form in self._forms(word):
                    self.whole.setdefault(form, []).append(idx)
                if not e.whole and len(word) >= MIN_PART and (e.section in THEMES or e.part):
                    self.head.setdefault(word, []).append(idx)
                if e.begin:
                    self.begin.setdefault(word, []).append(idx)
                if e.section in THEMES and len(word) >= FUZZY_MIN - 1:
                    self.fuzzy.setdefault(word, []).append(idx)
                    for d in _deletions(word):
                        self.fuzzy.setdefault(d, []).append(idx)
            else:
                keys = tuple(None if w == GAP else frozenset(self._forms(w)) for w in e.words)
                self.item_keys[idx] = keys
                self.anchor[idx] = a = _anchor(e.words)
                for form in keys[a]:
                    self.first.setdefault(form, []).append(idx)
        # Only these forms are ever compared with a token's forms (phrase items, `niet=` words), so a
        # type keeps just those: most types then share _PLAIN and the cache stays small.
        self.guard_words = frozenset(w for e in self.entries for w in e.unless)
        self.phrase_forms = frozenset(f for keys in self.item_keys.values() for k in keys if k for f in k)
        self._kept_forms = self.guard_words | self.phrase_forms
        self._local = frozenset(i for i, e in enumerate(self.entries) if e.section == "lokaal")
        self.cache: dict[int, TypeInfo] = {}

    @staticmethod
    def _forms(word: str) -> set[str]:
        # Keywords match as written; the token side brings lemma and inflections (sloot → sluiten).
        return {word}

    def info(self, key: int, text: str) -> TypeInfo:
        """TypeInfo for a lower-case token (cached by its hash ``key``)."""
        cache = self.cache
        got = cache.get(key)
        if got is None:
            if len(cache) >= CACHE_MAX:  # bounded memory on huge corpora
                for old in list(islice(cache, len(cache) - CACHE_MAX * 3 // 4)):
                    del cache[old]
            got = cache[key] = self._analyse(text)
        return got

    def _analyse(self, text: str) -> TypeInfo:
        boundary = text.strip(" \t") in _BOUNDARY or text.isspace() or (not text.isalnum() and _is_emoji(text))
        word = fold(text)
        if not word or not any(c.isalpha() for c in word):  # numbers, punctuation: no analysis
            # (as before: a phrase looked up by a number alone does not mark the type as a theme word)
            return self._info({word}, (), self.first.get(word, ()), boundary, theme_ok=False)
        keys = stems(word, self.lemmas.get(word))
        hits: set[int] = set()
        exact = keys if word not in self.exceptions else {word}  # exceptions: the word as written only
        for s in exact:
            hits.update(self.whole.get(s, ()))
        for s in keys if word not in self.exceptions else ():  # exceptions: whole-word entries only
            for i in range(MIN_PART, len(s) - MIN_PART + 1):
                hits.update(self.head.get(s[i:], ()))  # pin|automaat
                hits.update(self.begin.get(s[:i], ()))  # huisarts|enpost
        if not hits and len(word) >= FUZZY_MIN and word not in self.exceptions:
            for d in _deletions(word) | {word}:
                hits.update(self.fuzzy.get(d, ()))
        starts: set[int] = set()
        for s in keys:
            starts.update(self.first.get(s, ()))
        return self._info(keys, hits, starts, boundary)

    def _info(self, keys: set[str], hits, starts, boundary: bool, theme_ok: bool = True) -> TypeInfo:
        kept = self._kept_forms.intersection(keys)
        if not (kept or hits or starts or boundary):
            return _PLAIN
        found = set(hits) | set(starts)
        return TypeInfo(frozenset(kept), tuple(sorted(hits)), tuple(sorted(starts)), boundary,
                        theme=theme_ok and any(self.entries[e].section in THEMES for e in found),
                        local=not self._local.isdisjoint(found),
                        guard=not self.guard_words.isdisjoint(keys))
