"""The classifier as the pipeline sees it, and classifications turned into ``post_tags`` rows."""

from __future__ import annotations

import logging
from typing import Any, Iterable, Iterator, Protocol

log = logging.getLogger(__name__)


class Tagger(Protocol):
    version: str

    def classify_many(self, texts: Iterable[str], batch_size: int = ..., n_process: int = ...) -> Iterator[Any]: ...


def classifier_switched_off() -> bool:
    """``LISTENER_CLASSIFIER=off``: store posts untagged (e.g. a collector-only host; tag later
    with ``listener reclassify``)."""
    import os

    return os.environ.get("LISTENER_CLASSIFIER", "").strip().lower() in {"off", "0", "no", "false"}


def load_tagger(keywords_path: str | None = None) -> Tagger:
    """The Dutch classifier (``classifiers.Classifier``) with the given or default keyword file."""
    from pathlib import Path

    from classifiers import Classifier

    return Classifier(keywords_path=Path(keywords_path) if keywords_path else None)


def tag_rows(c: Any, version: str) -> tuple[dict[str, Any], ...]:
    """``post_tags`` rows (without post_id) for one Classification, each with its evidence."""
    by_tag: dict[str, list[dict[str, Any]]] = {}
    for ev in c.evidence:
        by_tag.setdefault(ev.tag, []).append({"matched": ev.matched, "start": ev.start, "end": ev.end})

    def row(kind: str, tag: str, label: str | None = None, place: str | None = None,
            matched: str | None = None) -> dict[str, Any]:
        evidence = by_tag.get(tag, [])
        if matched is None:
            matched = "; ".join(dict.fromkeys(e["matched"] for e in evidence)) or None
        return {"kind": kind, "tag": tag, "label": label, "place": place, "matched": matched,
                "evidence": evidence or None, "classifier_version": version}

    rows = [row("theme", t) for t in c.themes]
    rows += [row("signal", s) for s in c.signals]
    rows += [row("municipality", m.code, m.name, m.place, m.matched) for m in c.municipalities]
    rows += [row("region", r) for r in c.regions]
    return tuple(rows)
