"""AnchoredPhrases finds what a PhraseMatcher finds, in the same order."""

from __future__ import annotations

import random

import spacy
from spacy.attrs import LOWER
from spacy.matcher import PhraseMatcher

from classifiers.components.anchored import AnchoredPhrases
from classifiers.components.view import DocView

PHRASES = {
    "P|ter apel": ["Ter Apel"], "P|apel": ["Apel"], "P|nieuwe pekela": ["Nieuwe Pekela", "Nieuwe-Pekela"],
    "P|de jouwer": ["De Jouwer"], "R|achterhoek": ["Achterhoek", "de Achterhoek"], "B|": ["FC Twente", "de Jouwer"],
    "R|twente": ["Twente"], "P|twente": ["Twente"], "P|wijk bij duurstede": ["Wijk bij Duurstede"], "P|wijk": ["Wijk"],
    "H|#": ["#"],
}
WORDS = ["Ter", "Apel", "ter", "apel", "Nieuwe", "Pekela", "-", "De", "de", "Jouwer", "Achterhoek", "FC", "Twente",
         "Wijk", "bij", "Duurstede", "#", "in", "naar", "mooi", ".", "nieuwe"]


def test_same_matches_as_a_phrase_matcher():
    nlp = spacy.blank("nl")
    stop = nlp.Defaults.stop_words
    anchored = AnchoredPhrases(nlp.vocab, "lower", lambda w: 2 if w in stop else 0)
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    for label, spellings in PHRASES.items():
        docs = [nlp.make_doc(s) for s in spellings]
        anchored.add(label, docs)
        matcher.add(label, docs)
    anchors = anchored.finish()
    assert "apel" in anchors and "ter" not in anchors and "pekela" in anchors and "de" not in anchors
    rng = random.Random(1)
    for _ in range(500):
        doc = nlp.make_doc(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))))
        lowers = doc.to_array(LOWER).tolist()
        positions = [t.i for t in doc if t.lower_ in anchors]
        assert anchored.find(DocView(doc, lowers), positions) == matcher(doc), doc.text
