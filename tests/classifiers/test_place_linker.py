"""Municipality and region linker on hand-written posts: ambiguous names, Frisian, mergers, regions."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("text, expected", [
    ("Best wel druk op de A2 bij Best.", {"Best"}),
    ("Dit is echt de beste taart, heel lekker.", set()),
    ("Het feest in Ee was geweldig.", {"Noardeast-Fryslân"}),
    ("Ee, wat is het koud vandaag.", set()),
    ("De sluis gaat open voor de boten.", set()),
    ("Dagje winkelen in Sluis met de buren.", {"Sluis"}),
    ("Anything goes tonight!", set()),
    ("Met de trein naar Goes.", {"Goes"}),
    ("Born to run, wat een plaat.", set()),
    ("Het postpunt in Born verdwijnt.", {"Sittard-Geleen"}),
    ("We gaan putten uit ervaring.", set()),
    ("Ongeluk bij Putten op de A28.", {"Putten"}),
    ("Made with love.", set()),
    ("Bibliotheek in Made sluit.", {"Drimmelen"}),
    ("Brand in Lent, ramen dicht.", {"Nijmegen"}),
    ("Zand erover.", set()),
    ("Onze wijk is mooi.", set()),
    ("Weekendje Bergen geboekt!", set()),
    ("Wandelen in Bergen (NH), prachtig.", {"Bergen (NH.)"}),
    ("Carnaval in Bergen (L) met de hele familie.", {"Bergen (L.)"}),
    ("Derby in Elst vanavond.", set()),
    ("Het dorpshuis in Elst (gem. Rhenen) is gered.", {"Rhenen"}),
    ("Fietsen gestolen in Haren.", set()),
    ("Dorpshuis in Laren (Gld) zoekt beheerders. #Lochem", {"Lochem"}),
    ("Museum in Laren (NH) bezocht.", {"Laren (NH.)"}),
    ("Oostrum bij Venray krijgt een MFA.", {"Venray"}),
])
def test_ambiguous_names(tag, text, expected):
    assert tag(text)["municipalities"] == expected


@pytest.mark.parametrize("text, expected", [
    ("Cambuur wint yn Ljouwert.", {"Leeuwarden"}),
    ("De bus tusken Boalsert en Makkum.", {"Súdwest-Fryslân"}),
    ("Feest in Hantum en Dokkum.", {"Noardeast-Fryslân"}),
    ("Winkelleegstand in Delfzijl.", {"Eemsdelta"}),
    ("Vroeger gemeente Dongeradeel, nu groter.", {"Noardeast-Fryslân"}),
    ("Bibliotheek in Bergambacht dicht.", {"Krimpenerwaard"}),
    ("Klazienaveen en Valthermond krijgen glasvezel.", {"Emmen", "Borger-Odoorn"}),
    ("Het is weer feest in Muiderberg.", {"Gooise Meren"}),
    ("Naar Dongen of Waspik voor de markt.", {"Dongen", "Waalwijk"}),
    ("File richting Amersfoort.", set()),
    ("Code oranje voor Groningen, Friesland en Drenthe.", set()),
    ("Studeren in Groningen is top.", {"Groningen"}),
    ("Bankkantoor in het Brabantse Zeeland (gemeente Maashorst) dicht.", {"Maashorst"}),
    ("Stoptreinen door Zeeland rijden minder vaak.", set()),
    ("Hengelo (Gld) krijgt tiny houses.", {"Bronckhorst"}),
    ("#HetHogeland en #LandvanCuijk", {"Het Hogeland", "Land van Cuijk"}),
    ("Buurtbusvereniging Vorden-Hengelo zoekt chauffeurs.", {"Bronckhorst"}),
    ("Maastricht Aachen Airport schrapt banen.", set()),
])
def test_municipalities(tag, text, expected):
    assert tag(text)["municipalities"] == expected


@pytest.mark.parametrize("text, expected", [
    ("Carpoolen voor studenten Achterhoek", {"Achterhoek"}),
    ("Achterhoekse dorpen krijgen glasvezel.", {"Achterhoek"}),
    ("Mooi weer in #ZeeuwsVlaanderen", {"Zeeuws-Vlaanderen"}),
    ("Zuid-Limburgs dialect is mooi.", {"Zuid-Limburg"}),
    ("Tickets op te halen in Parkstad.", {"Parkstad Limburg"}),
    ("Huisartsentekort in de Noordkop.", {"Kop van Noord-Holland"}),
    ("FC Twente wint in Enschede.", set()),
    ("Fabriek in Goor, gemeente Hof van Twente.", set()),
    ("Thuiszorg in het Westerkwartier.", {"Westerkwartier"}),
])
def test_regions(tag, text, expected):
    assert tag(text)["regions"] == expected


def test_region_and_municipality_share_a_name(tag):
    got = tag("Buurtbus Hoeksche Waard zoekt vrijwilligers.")
    assert got["regions"] == {"Hoeksche Waard"} and got["municipalities"] == {"Hoeksche Waard"}


def test_municipality_tag_fields(clf):
    res = clf.classify("De bus naar Hantum rijdt niet meer.")
    (m,) = res.municipalities
    assert (m.code, m.name, m.place, m.matched) == ("GM1970", "Noardeast-Fryslân", "Hantum", "Hantum")
    assert any(e.tag == "GM1970" and e.matched == "Hantum" for e in res.evidence)
    named = clf.classify("De gemeente Emmen sluit het zwembad.").municipalities[0]
    assert named.place is None


def test_linker_alone_finds_the_same_places(clf):
    """Without the theme matcher before it, the linker makes its own scan of the Doc."""
    texts = ["Feest in Hantum en Dokkum, #HetHogeland en Vorden-Hengelo!",
             "Bibliotheek in Bergambacht dicht. Dorpshuis in Laren (Gld) zoekt beheerders. #Lochem",
             "Achterhoekse dorpen krijgen glasvezel, zegt FC Twente in Enschede."]
    for text in texts:
        full = clf.nlp(text)
        with clf.nlp.select_pipes(disable=["listener_theme_matcher"]):
            alone = clf.nlp(text)
        assert alone._.listener_places == full._.listener_places and full._.listener_places
        assert alone._.listener_regions == full._.listener_regions
