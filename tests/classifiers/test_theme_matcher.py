"""Theme and signal matcher on hand-written posts (compounds, senses, negation, context)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("text, theme", [
    ("In Emmen verdwijnt de laatste geldautomaat.", "voorzieningen"),
    ("Geldautomaten in Vlagtwedde worden weggehaald door Geldmaat.", "voorzieningen"),
    ("In Ter Apel sluit het postkantoortje per 1 mei.", "voorzieningen"),
    ("De huisartsenpraktijk in Dokkum stopt.", "zorg"),
    ("Twee dorpshuizen in Westerwolde moeten dicht.", "gemeenschap"),
    ("De buurtbusvereniging in Ulrum zoekt chauffeurs.", "mobiliteit"),
    ("De buurtbusvereniging in Ulrum zoekt chauffeurs.", "gemeenschap"),
    ("Vrijwilligers gezocht voor #dorpshuis in Holwerd!", "gemeenschap"),
    ("Weer een bibliotheek dicht in #Groningen #krimp", "bevolking"),
    ("Slecht nieuws: de bibliotheek in Assen gaat dicht.", "voorzieningen"),
    ("De bibbliotheek in Assen gaat dicht, wat jammer.", "voorzieningen"),
    ("Wooncoöperatie in Ommen bouwt levensloopbestendige woningen.", "ouderen"),
    ("Glasvezelnetwerk in het buitengebied van Dalfsen is klaar.", "digitaal"),
])
def test_theme_found(tag, text, theme):
    assert theme in tag(text)["themes"]


@pytest.mark.parametrize("text", [
    "Mijn trui is na één wasbeurt gekrompen, krimp gegarandeerd. Gekocht in Roermond.",
    "Lekker op een bank in de zon bij de haven van Harlingen.",
    "Een school makrelen gezien bij de pier van Vlissingen!",
    "Weer een stapel folders in de bus gekregen in Zwolle, ondanks de sticker.",
    "Glasvezel hengel te koop, ophalen in Emmen.",
    "De economie krimpt in het derde kwartaal, meldt het CBS.",
    "Fiets gestolen bij de supermarkt in Assen, balen.",
    "Wat een kermis in de Tweede Kamer vandaag.",
])
def test_other_senses_give_no_theme(tag, text):
    assert tag(text)["themes"] == set()


def test_negation_flips_probleem(tag):
    assert "probleem" not in tag("De bibliotheek in Eelde sluit niet, zegt de gemeente.")["signals"]
    assert "probleem" in tag("De bibliotheek in Eelde sluit, zegt de gemeente.")["signals"]


def test_solved_problem(tag):
    got = tag("Onze huisarts in Norg stopt, maar de praktijk heeft een opvolger gevonden.")
    assert got["themes"] == {"zorg"} and "probleem" not in got["signals"]


def test_initiative_and_problem(tag):
    got = tag("De dorpswinkel in Wehe-den Hoorn stopt. Dorpsbelang wil er een coöperatie van maken, wie doet mee?")
    assert got["signals"] == {"probleem", "initiatief"}
    assert {"voorzieningen", "gemeenschap"} <= got["themes"]


def test_no_signal_without_theme(tag):
    assert tag("Wie doet mee met de pubquiz in Assen? Vrijwilligers gezocht!")["signals"] <= {"initiatief"}
    assert tag("Het weer is slecht in Assen, de hele dag regen.") == {
        "themes": set(), "signals": set(), "municipalities": {"Assen"}, "regions": set()}


def test_weak_word_as_location_only(tag):
    assert "onderwijs" not in tag("In Hulst komt een zendmast naast de basisschool.")["themes"]
    assert "onderwijs" in tag("De basisschool in Hulst sluit na de zomer.")["themes"]


def test_no_place_no_theme(tag):
    assert tag("Het kabinet wil meer geld voor de zorg en de huisarts.")["themes"] == set()


def test_evidence_offsets(clf):
    text = "Per 1 april verdwijnt de pinautomaat in Warffum."
    res = clf.classify(text)
    ev = [e for e in res.evidence if e.tag == "voorzieningen"][0]
    assert text[ev.start:ev.end] == ev.matched == "pinautomaat"


def test_phrase_neighbour_cache_changes_nothing(clf):
    """The per-word-type-triple cache of phrases left possible gives the answers of a fresh start."""
    texts = ["De supermarkt in Warffum gaat per 1 mei dicht. Wat te doen?",
             "In Ulrum gaat de bakker dicht, wat nu. Gaat het dorpshuis ook dicht?",
             "Gaat. Dicht in Emmen: de bieb gaat per 1 juni echt dicht!",
             "Wat te doen in het dorp? Niks te doen in Dokkum."] * 3
    clf._themes._near.clear()
    first = [clf.classify(t) for t in texts]
    assert clf._themes._near  # filled
    assert [clf.classify(t) for t in texts] == first
    clf._themes._near.clear()
    assert [clf.classify(t) for t in reversed(texts)] == first[::-1]
