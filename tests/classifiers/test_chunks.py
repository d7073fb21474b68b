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


def test_post_view_answers_like_the_doc(clf):
    """PostView's lookups (per token, per span, the lazy lists) give what the Doc gives."""
    for text in texts(150, seed=6):
        chunks = text.split()
        recs = clf.chunks.records(chunks)
        view = recs and clf.chunks.view(text, chunks, recs)
        if not view:
            continue
        doc = clf.nlp.make_doc(text)
        assert view.n == len(doc) and view.lowers == [t.lower for t in doc]
        for i, tok in enumerate(doc):
            assert (view.lower(i), view.text(i), view.idx(i), view.end(i)) == (tok.lower, tok.text, tok.idx,
                                                                               tok.idx + len(tok))
            for j in range(i + 1, min(len(doc), i + 4) + 1):
                assert view.char_span(i, j) == (tok.idx, doc[j - 1].idx + len(doc[j - 1]))
        theme, place, strict = view.marked()
        assert (theme, (place, strict)) == (view.themes(), view.places())
        assert place == [t.i for t in doc if t.check_flag(clf._places.trigger_flag)]


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_paused_per_block_and_restored(clf, enabled):
    import gc

    (gc.enable if enabled else gc.disable)()
    try:
        got = list(clf.classify_many(["De huisarts in Dokkum stopt", "Mooi weer"] * 600, batch_size=100))
        assert gc.isenabled() is enabled
        assert got[0].themes == ("zorg",) and got[1] == Classification()
    finally:
        gc.enable()


def test_new_chunks_of_digits_and_punctuation_are_not_tokenized_in_untaggable_posts(clf, monkeypatch):
    assert clf.chunks.plain_ok  # no place-name or [lokaal] word is only digits and punctuation
    assert clf.classify("Mooi weer vandaag (98765) 12:34") == Classification()
    assert {"(98765)", "12:34"} <= clf.chunks.boring and "(98765)" not in clf.chunks.cache
    text = "De huisarts in Dokkum stopt (98765) 12:34"
    assert clf.classify(text) == via_doc(clf, text) != Classification()
    assert "(98765)" in clf.chunks.cache  # made once a post needs its tokens
    monkeypatch.setattr(chunks_module, "CHUNKS_MAX", 40)
    sample = [f"Mooi weer ({i}) {i}:{i}" for i in range(200)] + [f"Groeten uit Dokkum ({i})!" for i in range(30)]
    assert list(clf.classify_many(sample)) == [via_doc(clf, t) for t in sample]
    assert len(clf.chunks.unmade) <= 40
