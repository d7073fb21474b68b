"""Dutch classifier of krimp-listener: themes, signals, municipalities and regions with evidence.

    >>> from classifiers import Classifier
    >>> Classifier().classify("De pinautomaat in Warffum verdwijnt").themes
    ('voorzieningen',)
"""

from __future__ import annotations

import itertools
import multiprocessing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from classifiers.data import DOC_LOCAL as _LOCAL
from classifiers.data import DOC_PLACES as _PLACES
from classifiers.data import DOC_REGIONS as _REGIONS
from classifiers.data import DOC_TOPICS as _TOPICS
from classifiers.data import SIGNALS, THEMES, default_gazetteer_dir, default_keywords_path, files_hash

__version__ = "0.1.0"
__all__ = ["Classifier", "Classification", "Evidence", "MunicipalityTag", "THEMES", "SIGNALS"]
_THEME_ORDER = {t: i for i, t in enumerate(THEMES)}


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
        from classifiers.pipeline import build_nlp

        self.keywords_path = default_keywords_path(keywords_path)
        self.gazetteer_dir = Path(gazetteer_dir) if gazetteer_dir else default_gazetteer_dir()
        self.nlp = build_nlp(self.keywords_path, self.gazetteer_dir)
        self.gazetteer = self.nlp.get_pipe("listener_place_linker").gazetteer
        kw = files_hash([self.keywords_path])
        gz = files_hash(self.gazetteer.files)
        self.version = f"{__version__}+kw{kw}-gz{gz}"

    def classify(self, text: str) -> Classification:
        """Tags of one post."""
        text = text or ""
        return self._convert(self.nlp(text), text)

    def classify_many(self, texts: Iterable[str], batch_size: int = 512, n_process: int = 1) -> Iterator[Classification]:
        """Tags of many posts, in input order; n_process > 1 spreads batches over processes."""
        texts = (t or "" for t in texts)
        if n_process <= 1:
            for doc, text in self.nlp.pipe(((t, t) for t in texts), batch_size=batch_size, as_tuples=True):
                yield self._convert(doc, text)
            return
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        global _WORKER
        if method == "fork":
            _WORKER = self  # children inherit the loaded pipeline
        with ctx.Pool(n_process, initializer=_init_worker,
                      initargs=(str(self.keywords_path), str(self.gazetteer_dir))) as pool:
            batches = iter(lambda: list(itertools.islice(texts, batch_size)), [])
            for result in pool.imap(_work, batches, chunksize=1):
                yield from result

    def _convert(self, doc, text: str) -> Classification:
        data = doc.user_data
        topics = data.get(_TOPICS)
        places = data.get(_PLACES)
        region_hits = data.get(_REGIONS)
        if not (topics or places or region_hits):
            return _EMPTY
        g = self.gazetteer
        munis: dict[str, MunicipalityTag] = {}
        evidence: list[Evidence] = []
        for code, place, start, end in places:
            evidence.append(Evidence(code, text[start:end], start, end))
            if code not in munis:
                munis[code] = MunicipalityTag(code, g.municipalities[code].name, place, text[start:end], start, end)
        regions: list[str] = []
        for region, start, end in region_hits:
            evidence.append(Evidence(region, text[start:end], start, end))
            if region not in regions:
                regions.append(region)
        themes: set[str] = set()
        signals: set[str] = set()
        topic_ev = []
        if topics and (munis or regions or data.get(_LOCAL)):
            for tag, start, end in topics:
                (themes if tag in _THEME_ORDER else signals).add(tag)
                topic_ev.append(Evidence(tag, text[start:end], start, end))
        return Classification(
            themes=tuple(sorted(themes, key=_THEME_ORDER.get)),
            signals=tuple(s for s in SIGNALS if s in signals),
            municipalities=tuple(munis.values()),
            regions=tuple(regions),
            evidence=tuple(sorted(topic_ev + evidence, key=lambda e: (e.start, e.end, e.tag))),
        )


_EMPTY = Classification()
_WORKER: Classifier | None = None


def _init_worker(keywords_path: str, gazetteer_dir: str) -> None:
    global _WORKER
    if _WORKER is None or (str(_WORKER.keywords_path), str(_WORKER.gazetteer_dir)) != (keywords_path, gazetteer_dir):
        _WORKER = Classifier(Path(keywords_path), Path(gazetteer_dir))


def _work(batch: list[str]) -> list[Classification]:
    pipe = _WORKER.nlp.pipe(((t, t) for t in batch), batch_size=len(batch) or 1, as_tuples=True)
    return [_WORKER._convert(doc, text) for doc, text in pipe]
