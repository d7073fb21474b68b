"""Classifier and its records: the code behind ``from classifiers import Classifier``.

It lives here rather than in ``classifiers/__init__.py`` so that it can be compiled with Cython
(``hatch_build.py``) while the package's ``__init__`` stays pure Python: that one installs the guard
that decides whether a compiled module may be used (see ``classifiers.compiled_modules``).
"""

from __future__ import annotations

import collections
import contextlib
import gc
import itertools
import multiprocessing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifiers import __version__
from classifiers.data import DOC_LOCAL as _LOCAL
from classifiers.data import DOC_PLACES as _PLACES
from classifiers.data import DOC_REGIONS as _REGIONS
from classifiers.data import DOC_TOPICS as _TOPICS
from classifiers.data import LOCAL as _LOCAL_WORD
from classifiers.data import PLACE as _PLACE
from classifiers.data import TOPIC as _TOPIC
from classifiers.data import (
    SIGNALS,
    THEMES,
    default_gazetteer_dir,
    default_keywords_path,
    files_hash,
)

__all__ = ["Classification", "Classifier", "Evidence", "MunicipalityTag"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a tag was given: the words in the text and their character offsets."""

    tag: str
    matched: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class MunicipalityTag:
    """A municipality found in a post, with the woonplaats (if any) through which it was found."""

    code: str
    name: str
    place: str | None
    matched: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Classification:
    """All tags of one post, in the shape of TAXONOMY.md."""

    themes: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    municipalities: tuple[MunicipalityTag, ...] = ()
    regions: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()

    @property
    def relevant(self) -> bool:
        """True when the post has at least one theme."""
        return bool(self.themes)

    def to_dict(self) -> dict[str, Any]:
        """The fields that `listener classify` adds to each input line."""
        return {
            "themes": list(self.themes),
            "signals": list(self.signals),
            "municipalities": [{"code": m.code, "name": m.name, "place": m.place, "matched": m.matched}
                               for m in self.municipalities],
            "regions": list(self.regions),
            "evidence": [{"tag": e.tag, "matched": e.matched, "start": e.start, "end": e.end}
                         for e in self.evidence],
        }


class Classifier:
    """Loads the pipeline once; classify one text or stream many (optionally over processes)."""

    def __init__(self, keywords_path: Path | None = None, gazetteer_dir: Path | None = None) -> None:
        from classifiers.chunks import PLAIN, ChunkCache
        from classifiers.pipeline import build_nlp

        self.keywords_path = default_keywords_path(keywords_path)
        self.gazetteer_dir = Path(gazetteer_dir) if gazetteer_dir else default_gazetteer_dir()
        self.nlp = build_nlp(self.keywords_path, self.gazetteer_dir)
        self._places = places = self.nlp.get_pipe("listener_place_linker")
        self._themes = themes = self.nlp.get_pipe("listener_theme_matcher")
        self.gazetteer = places.gazetteer
        # Most posts are decided, and the rest read, from cached chunk tokenizations (chunks.py);
        # the spaCy pipeline runs only for posts whose tokens a Doc alone gives for sure.
        # A chunk of ASCII digits and punctuation holds no trigger when no place-name word and no word
        # that may start a [lokaal] phrase is such a string (true for the bundled data; checked here).
        lex = themes.lexicon
        local = {i for i, e in enumerate(lex.entries) if e.section == "lokaal"}
        plain_ok = not any(map(PLAIN, places.anchor_words)) and \
            not any(PLAIN(w) for w, entries in lex.first.items() if not local.isdisjoint(entries))
        self.chunks = ChunkCache(self.nlp.tokenizer, (places.triggers, themes.triggers),
                                 (themes.flag, places.trigger_flag, places.strict_flag),
                                 (places.trigger_flag, themes.local_flag), themes.lexicon.info, plain_ok)
        self._procs = [proc for _, proc in self.nlp.pipeline]
        # spaCy keeps every word type it meets. Once it has made this many (len(vocab) counts them all,
        # forgotten ones too), each block of posts runs in a memory zone that forgets its new word
        # types again: memory stays flat; only posts that go through a Doc pay for it in speed.
        self._vocab_limit = len(self.nlp.vocab) + PERMANENT_TYPES
        kw = files_hash([self.keywords_path])
        gz = files_hash(self.gazetteer.files)
        self.version = f"{__version__}+kw{kw}-gz{gz}"
        # Loading made some 100,000 lasting objects that the cyclic collector has not yet seen in full;
        # it would walk them all (~0.1 s) during the first few thousand posts. Walk them now, once:
        # afterwards a full pass comes only after as many new lasting objects again (see _gc_paused).
        gc.collect()

    def classify(self, text: str) -> Classification:
        """Tags of one post."""
        return self._classify_block([text or ""])[0]

    def classify_many(self, texts: Iterable[str], batch_size: int = 512, n_process: int = 1) -> Iterator[Classification]:
        """Tags of many posts, in input order; n_process > 1 spreads batches over processes.

        Streams: at most a few batches are held in memory at any time, whatever the input size.
        """
        texts = (t or "" for t in texts)
        batches = iter(lambda: list(itertools.islice(texts, batch_size)), [])
        if n_process <= 1:
            for batch in batches:
                yield from self._classify_block(batch)
            return
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        global _WORKER
        if method == "fork":
            _WORKER = self  # children inherit the loaded pipeline
        with ctx.Pool(n_process, initializer=_init_worker,
                      initargs=(str(self.keywords_path), str(self.gazetteer_dir))) as pool:
            pending: collections.deque = collections.deque()
            for batch in batches:
                pending.append((batch, pool.apply_async(_work, (batch,))))
                if len(pending) >= 2 * n_process:  # bounded: Pool.imap would read the whole input
                    yield from self._restore(*pending.popleft())
            while pending:
                yield from self._restore(*pending.popleft())

    def _restore(self, texts: list[str], result) -> list[Classification]:
        build = self._build
        results = result.get()
        with _gc_paused():
            return [_EMPTY if r is None else build(t, *r) for t, r in zip(texts, results)]

    def _classify_block(self, texts: list[str]) -> list[Classification]:
        build = self._build
        with _gc_paused():
            return [_EMPTY if r is None else build(t, *r) for t, r in zip(texts, self._analyse_block(texts))]

    def _analyse_block(self, texts: list[str]) -> list[tuple | None]:
        """(topics, places, regions) of each post that gets a tag, else None (plain data: what
        worker processes send back)."""
        out: list[tuple | None] = [None] * len(texts)
        nlp = self.nlp
        zone = nlp.memory_zone() if len(nlp.vocab) > self._vocab_limit else contextlib.nullcontext()
        with zone:
            # stage by stage over the block: each step's code and data stay hot in the CPU caches
            # (a third faster than taking each post through all steps)
            cache = self.chunks
            chunked = list(map(str.split, texts))
            records = list(map(cache.records, chunked))
            views = []
            for i in itertools.compress(range(len(texts)), records):  # posts that may get a tag
                view = cache.view(texts[i], chunked[i], records[i])
                if view is None:
                    out[i] = self._analyse_doc(texts[i])
                else:
                    views.append((i, view))
            # what the rules visit; the theme rules only for posts they can tag: with a theme word, and
            # with a place, a region or a word from [lokaal] (else topics() gives None, or its answer
            # is not used)
            marks = [view.marked() if view.bits & _BOTH == _BOTH else
                     (None, *view.places()) if view.bits & _PLACE else _NO_MARKS for _, view in views]
            link = self._places.link
            linked = [link(view, place, strict) if place else _NO_PLACES for (_, view), (_, place, strict) in
                      zip(views, marks)]
            topics = self._themes.topics
            for (i, view), (places, regions), (theme, _, _) in zip(views, linked, marks):
                bits = view.bits
                if bits & _TOPIC and (places or regions or bits & _LOCAL_WORD):
                    got = topics(view, view.themes() if theme is None else theme)
                    if places or regions or got and got[1]:
                        out[i] = (got[0] if got else (), places, regions)
                elif places or regions:
                    out[i] = ((), places, regions)
        return out

    def _analyse_doc(self, text: str) -> tuple | None:
        doc = self.nlp.tokenizer(text)
        for proc in self._procs:  # the components work one Doc at a time: nlp.pipe would only add overhead
            doc = proc(doc)
        data = doc.user_data
        places, regions, topics = data.get(_PLACES), data.get(_REGIONS), data.get(_TOPICS)
        if places or regions or topics and data.get(_LOCAL):
            return topics or (), places, regions
        return None

    def _build(self, text: str, topics, places, regions) -> Classification:
        """The Classification of a post with a place or region, or with topics and a local word."""
        munis: dict[str, MunicipalityTag] = {}
        found: list[tuple[int, int, str]] = []
        if places:
            municipalities = self.gazetteer.municipalities
            for code, place, start, end in places:
                found.append((start, end, code))
                if code not in munis:
                    munis[code] = _municipality(code, municipalities[code].name, place, text[start:end], start, end)
        names: list[str] = []
        for region, start, end in regions:
            found.append((start, end, region))
            if region not in names:
                names.append(region)
        themes = signals = ()
        if topics:
            tags = set()
            for tag, start, end in topics:
                tags.add(tag)
                found.append((start, end, tag))
            # in taxonomy order (themes and signals are disjoint)
            themes = tuple([t for t in THEMES if t in tags])
            signals = tuple([s for s in SIGNALS if s in tags])
        found.sort()
        return _classification(themes, signals, tuple(munis.values()), tuple(names),
                               tuple([_evidence(tag, text[start:end], start, end) for start, end, tag in found]))


_EMPTY = Classification()

# _build makes its records without the dataclass __init__: that one runs in the interpreter even in the
# compiled module, and calls object.__setattr__ per field (a frozen dataclass refuses plain assignment).
# object.__new__ and each slot's own setter do the same work in about half the time.
_new = object.__new__
_EV_TAG, _EV_MATCHED, _EV_START, _EV_END = (Evidence.__dict__[f].__set__ for f in Evidence.__slots__)
_MT_CODE, _MT_NAME, _MT_PLACE, _MT_MATCHED, _MT_START, _MT_END = (
    MunicipalityTag.__dict__[f].__set__ for f in MunicipalityTag.__slots__)
_CL_THEMES, _CL_SIGNALS, _CL_MUNIS, _CL_REGIONS, _CL_EVIDENCE = (
    Classification.__dict__[f].__set__ for f in Classification.__slots__)


def _evidence(tag: str, matched: str, start: int, end: int) -> Evidence:
    ev = _new(Evidence)
    _EV_TAG(ev, tag)
    _EV_MATCHED(ev, matched)
    _EV_START(ev, start)
    _EV_END(ev, end)
    return ev


def _municipality(code: str, name: str, place: str | None, matched: str, start: int, end: int) -> MunicipalityTag:
    tag = _new(MunicipalityTag)
    _MT_CODE(tag, code)
    _MT_NAME(tag, name)
    _MT_PLACE(tag, place)
    _MT_MATCHED(tag, matched)
    _MT_START(tag, start)
    _MT_END(tag, end)
    return tag


def _classification(themes: tuple, signals: tuple, municipalities: tuple, regions: tuple,
                    evidence: tuple) -> Classification:
    res = _new(Classification)
    _CL_THEMES(res, themes)
    _CL_SIGNALS(res, signals)
    _CL_MUNIS(res, municipalities)
    _CL_REGIONS(res, regions)
    _CL_EVIDENCE(res, evidence)
    return res
_NO_PLACES: tuple[list, list] = ([], [])
_NO_MARKS = (None, [], [])
_BOTH = _PLACE | _TOPIC


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # A block allocates some 100,000 short-lived tuples and lists and makes no reference cycles, so the
    # cyclic collector would free nothing; yet every 700 allocations it ran, and every few blocks it
    # walked all the long-lived objects (spaCy's, the caches): a quarter of the classifier's time.
    # Paused, it runs once after the block. Nested or already disabled: left as it was.
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

PERMANENT_TYPES = 20_000  # new word types spaCy may keep for good (see Classifier.__init__)
_WORKER: Classifier | None = None


def _init_worker(keywords_path: str, gazetteer_dir: str) -> None:
    global _WORKER
    if _WORKER is None or (str(_WORKER.keywords_path), str(_WORKER.gazetteer_dir)) != (keywords_path, gazetteer_dir):
        _WORKER = Classifier(Path(keywords_path), Path(gazetteer_dir))


def _work(batch: list[str]) -> list[tuple | None]:
    # plain tuples travel between processes far cheaper than pickled Classification records
    with _gc_paused():
        return _WORKER._analyse_block(batch)
