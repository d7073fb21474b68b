"""build_nlp(): spacy.blank("nl") + the lookup lemmatizer + our two components."""

from __future__ import annotations

import logging
from pathlib import Path

import spacy
from spacy.language import Language

import classifiers.components  # noqa: F401  (registers the factories)

log = logging.getLogger(__name__)
COMPONENTS = ("listener_theme_matcher", "listener_place_linker")


def build_nlp(keywords_path: Path | str | None = None, gazetteer_dir: Path | str | None = None,
              *, lemmatizer: bool = False) -> Language:
    """Blank Dutch pipeline with the classifier components, initialised from the data files.

    The theme matcher reads spaCy's Dutch lemma lookup table itself (once per word type), so
    the token-by-token ``lemmatizer`` component is only added when asked for (it would cost speed).
    """
    nlp = spacy.blank("nl")
    if lemmatizer:
        try:
            nlp.add_pipe("lemmatizer", config={"mode": "lookup"}).initialize()
        except (ValueError, ImportError) as exc:  # spacy-lookups-data missing
            log.warning("lookup lemmatizer unavailable: %s", exc)
            nlp.remove_pipe("lemmatizer")
    themes = nlp.add_pipe("listener_theme_matcher")
    themes.initialize(keywords_path=keywords_path)
    places = nlp.add_pipe("listener_place_linker")
    places.initialize(gazetteer_dir=gazetteer_dir)
    themes.share_scan(places.trigger_flag)  # one array export per post serves both components
    return nlp
