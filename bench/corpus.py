"""Deterministic generator of realistic 15-60-word Dutch posts for the classifier benchmark."""

from __future__ import annotations

import random
from typing import Iterator

PLACES = ["Warffum", "Emmen", "Winterswijk", "Oostburg", "Dokkum", "Ljouwert", "Stadskanaal", "Kerkrade",
          "Delfzijl", "Veendam", "Ulrum", "Groenlo", "Hulst", "Zierikzee", "Heerlen", "Appingedam", "Goes",
          "Sluis", "Ommen", "Coevorden", "Ter Apel", "Borculo", "Vaals", "Sneek", "Hardenberg", "Uithuizen"]
REGIONS = ["Achterhoek", "Twente", "Zeeuws-Vlaanderen", "Oost-Groningen", "Parkstad", "de Liemers"]
SUBJECTS = ["de supermarkt", "de pinautomaat", "de huisarts", "de dorpsschool", "de buslijn", "het dorpshuis",
            "de bibliotheek", "het zwembad", "de kroeg", "de buurtbus", "de apotheek", "het postpunt",
            "de sporthal", "de glasvezel", "de thuiszorg", "de jongerensoos"]
EVENTS = ["sluit per 1 mei", "verdwijnt na de zomer", "stopt ermee", "gaat dicht", "krijgt een doorstart",
          "blijft gelukkig open", "zoekt vrijwilligers", "wordt overgenomen door bewoners", "rijdt niet meer"]
OPENERS = ["Vandaag gehoord dat", "Slecht nieuws:", "Goed nieuws!", "Wist je dat", "Balen,", "Eindelijk:",
           "Volgens de gemeente", "Ik lees net dat"]
CHATTER = ("wat een mooie dag vandaag zeg we zijn met de hele familie naar het strand geweest en daarna "
           "lekker gegeten bij de chinees op de hoek morgen weer vroeg op want de kinderen moeten naar "
           "hun voetbaltraining en ik moet nog boodschappen doen voor het weekend heeft iemand tips voor "
           "een goede serie op netflix of een leuk boek de buren hebben een nieuwe hond gekregen die "
           "de hele nacht blaft echt niet normaal meer het weer is ook niks deze week regen regen en "
           "nog eens regen maar zaterdag schijnt de zon weer ajax speelde gelijk wat een wedstrijd "
           "koffie met appeltaart is toch het beste wat er is fijne avond allemaal").split()
TAILS = ["Wie doet mee?", "Hoe zit dat bij jullie?", "Echt jammer voor het dorp.", "#krimp", "😡", "👍",
         "Meer info op de site.", "Kom allemaal naar de avond in het dorpshuis!", "https://t.co/x1y2z3"]


def _relevant(rng: random.Random) -> str:
    place = rng.choice(PLACES)
    words = [rng.choice(OPENERS), rng.choice(SUBJECTS), "in", place, rng.choice(EVENTS) + "."]
    if rng.random() < 0.3:
        words += ["Iedereen uit de", rng.choice(REGIONS), "weet hoe dat voelt."]
    while len(" ".join(words).split()) < rng.randint(15, 45):
        words.append(" ".join(rng.sample(CHATTER, rng.randint(4, 9))) + ".")
    words.append(rng.choice(TAILS))
    return " ".join(words)


def _chatter(rng: random.Random) -> str:
    n = rng.randint(15, 60)
    text = " ".join(rng.choice(CHATTER) for _ in range(n))
    if rng.random() < 0.3:
        text += f" Groeten uit {rng.choice(PLACES)}!"
    return text[0].upper() + text[1:] + " " + rng.choice(TAILS[3:])


def posts(n: int, seed: int = 5, relevant_share: float = 0.35) -> Iterator[str]:
    """n posts of 15-60 words: a share about closing services in a place, the rest everyday chatter."""
    rng = random.Random(seed)
    for i in range(n):
        text = _relevant(rng) if rng.random() < relevant_share else _chatter(rng)
        yield f"{text} ({i})" if rng.random() < 0.2 else text
