"""The chunk cache (classifiers/chunks.py) gives exactly what the spaCy pipeline gives."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import classifiers.chunks as chunks_module
from classifiers import Classification

HERE = Path(__file__).resolve().parent
TRICKY = ["in", "Best", "Best.", "#", "#HetHogeland", "Ee", "Sluis", "dorpshuis", "sluit", "niet", "(", "NH", ")",
          "(NH)", "gem.", "Rhenen", "Vorden-Hengelo", "Bergen", "😡", "-", "'s-Gravendeel", "Zeeland", "geen", "...",
          "bus", "Achterhoek", ":", ":)", "bijv", ".", "bijv.", "D", "(:", "L.", "Pol.", "’t", "Ter", "Apel", "De",
          "Jouwer", "Hoek", "van", "Holland", "FC", "Twente", "gemeente", "dorp", "hier", "bij", "ons", "(gem.",
          "Deurne)", "Laren", "(Gld)", "Elst", "#Lochem", "huisarts", "stopt", "opvolger", "Echt-Susteren",
          "Ljouwert-Noard", "St.", "m.b.t.", "Den", "Haag", "1x", "per", "uur", "wat", "te", "doen", "niks", "Een",
          "Warffum!", "Warffum,", "(Dokkum)", "Dokkum's", "Groningen", "provincie", "richting", "Amersfoort"]


def via_doc(clf, text: str) -> Classification:
    """The tags as the spaCy pipeline (Doc + components) gives them."""
    raw = clf._analyse_doc(text)
    return Classification() if raw is None else clf._build(text, *raw)


def texts(n: int, seed: int) -> list[str]:
    lines = (HERE / "labelled_posts.jsonl").read_text(encoding="utf-8").splitlines()
    labelled = [json.loads(line)["text"] for line in lines if line.strip()]
    words = " ".join(labelled).split()
    rng = random.Random(seed)
    out = [" ".join(rng.choice(TRICKY if rng.random() < 0.6 else words) for _ in range(rng.randint(1, 25)))
           for _ in range(n)]
    return out + labelled + [t.replace("\n", " ") for t in labelled]


def test_same_tags_as_the_spacy_pipeline(clf):
    sample = texts(1500, seed=3)
    fast = list(clf.classify_many(sample, batch_size=64))
    assert fast == [via_doc(clf, t) for t in sample]


def test_skipped_posts_have_no_tags(clf):
    skipped = [t for t in texts(800, seed=4) if clf.chunks.records(t.split()) is None]
    assert len(skipped) > 50
    assert all(via_doc(clf, t) == Classification() for t in skipped)


@pytest.mark.parametrize("text", [
    "De bus naar Holwerd\nrijdt niet meer, het dorp is boos",  # newline: a whitespace token
    "De bus naar  Holwerd rijdt niet meer in het dorp",  # double space
    " De bibliotheek in Assen sluit.",  # leading space
    "Feest in Dokkum: ) en de huisarts in het dorp stopt",  # ':' + ')' may be one special case
])
def test_posts_whose_tokens_need_a_doc(clf, text):
    chunks = text.split()
    recs = clf.chunks.records(chunks)
    assert recs is not None and clf.chunks.view(text, chunks, recs) is None
    assert clf.classify(text) == via_doc(clf, text) != Classification()


def test_chunk_cache_stays_bounded(clf, monkeypatch):
    monkeypatch.setattr(chunks_module, "CHUNKS_MAX", 40)
    sample = [f"{t} nieuwwoord{i}" for i, t in enumerate(texts(200, seed=5))]  # chunks not seen before
    got = list(clf.classify_many(sample))
    assert len(clf.chunks.cache) <= 40
    assert got == [via_doc(clf, t) for t in sample]


def test_memory_zone_once_spacy_knows_enough_new_words(clf, monkeypatch):
    monkeypatch.setattr(clf, "_vocab_limit", 0)  # every block now runs in a memory zone
    sample = [f"Het dorpshuis in Warffum{i}x sluit, zegt wethouder Zorgvlied{i}." for i in range(30)]
    sample += ["De huisarts in Dokkum stopt en er is geen opvolger.\nHet dorp is boos."]
    got = list(clf.classify_many(sample))
    assert "Zorgvlied7" not in clf.nlp.vocab and "Warffum7x" not in clf.nlp.vocab  # forgotten again
    assert got == [via_doc(clf, t) for t in sample]
    assert got[-1].themes == ("zorg",) and got[-1].municipalities[0].name == "Noardeast-Fryslân"
