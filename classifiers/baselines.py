"""The two reference baselines of issue 5: substring keywords and a naive capitalised-name gazetteer."""

from __future__ import annotations

import re
from typing import Callable

from classifiers.gazetteer import Gazetteer

# The everyday words of TAXONOMY.md §1-2, as written there (fixed on purpose: this is the yardstick).
BASELINE_WORDS: dict[str, tuple[str, ...]] = {
    "voorzieningen": ("supermarkt", "dorpswinkel", "buurtsuper", "pinautomaat", "geldautomaat", "geldmaat",
                      "bankkantoor", "postkantoor", "postpunt", "pakketpunt", "bibliotheek", "café", "kroeg",
                      "tankstation", "zwembad", "sporthal"),
    "onderwijs": ("basisschool", "dorpsschool", "middelbare school", "kindcentrum", "kinderopvang",
                  "peuterspeelzaal", "fusie", "leerlingendaling", "schoolvervoer", "leerlingenvervoer"),
    "zorg": ("huisarts", "opvolger", "huisartsenpost", "apotheek", "tandarts", "thuiszorg", "wijkverpleging",
             "verpleeghuis", "zorgcentrum", "ambulance", "aanrijtijd", "mantelzorg", "zorgcoöperatie"),
    "mobiliteit": ("bus", "buslijn", "dienstregeling", " ov ", "buurtbus", "regiotaxi", "trein", "station",
                   "carpool", "deelauto", "liften", "fietspad", "snelfietsroute", "scholierenvervoer"),
    "wonen": ("woningen", "starterswoning", "tiny house", "huurwoning", "woningcorporatie", "sloop",
              "leegstand", "herbestemming"),
    "werk": ("banen", "werkgelegenheid", "bedrijven", "personeelstekort", "stages", "jonge ondernemers",
             "winkelleegstand"),
    "jongeren": ("jongeren", "wegtrekken", "niks te doen", "jongerenhonk", "keet", "uitgaan", "zwarte cross",
                 "studenten"),
    "ouderen": ("vergrijzing", "eenzaamheid", "senioren", "levensloopbestendig", "seniorenwoning"),
    "gemeenschap": ("dorpshuis", "buurthuis", "mfa", "kulturhus", "vereniging", "clubhuis", "vrijwilligers",
                    "dorpsfeest", "kermis", "dorpsbelang", "dorpsraad", "burenhulp", "kerk"),
    "digitaal": ("glasvezel", "breedband", "mobiel bereik", "4g", "5g", "internet", "digitale vaardigheden"),
    "bevolking": ("krimp", "bevolkingsdaling", "leegloop", "demografische transitie", "vergrijzing",
                  "ontgroening", "krimpregio", "anticipeerregio"),
    "probleem": ("verdwijnt", "sluit", "stopt", "geen opvolger", "niks te beleven", "dicht", "zorgen"),
    "initiatief": ("zelfbeheer", "coöperatie", "vrijwilligers gezocht", "crowdfunding", "burgerinitiatief",
                   "we starten", "wie doet mee", "vrijwilligers", "samen"),
}
_THEMES = [t for t in BASELINE_WORDS if t not in ("probleem", "initiatief")]


def keyword_baseline() -> Callable[[str], dict[str, list[str]]]:
    """(a) Case-insensitive substring search for the taxonomy's everyday words."""

    def run(text: str) -> dict[str, list[str]]:
        low = f" {text.lower()} "
        tags = [t for t, words in BASELINE_WORDS.items() if any(w in low for w in words)]
        themes = [t for t in tags if t in _THEMES]
        signals = [t for t in tags if t not in _THEMES] if themes else []
        return {"themes": themes, "signals": signals}

    return run


def gazetteer_baseline(gazetteer: Gazetteer) -> Callable[[str], dict[str, list[str]]]:
    """(b) Every municipality and woonplaats name found as a capitalised whole word (all candidates)."""
    surface: dict[str, set[str]] = {}
    for key, spellings in gazetteer.surface.items():
        for s in spellings:
            surface.setdefault(s, set()).update(gazetteer.names[key])
    longest = max(len(s.split()) for s in surface)
    word_re = re.compile(r"[\w'’().-]+")

    def run(text: str) -> dict[str, list[str]]:
        words = [w.strip(".,!?:;()") for w in word_re.findall(text)]
        codes: set[str] = set()
        for i in range(len(words)):
            for n in range(1, longest + 1):
                cand = " ".join(words[i:i + n])
                if cand and cand[0].isupper() and cand in surface:
                    codes.update(surface[cand])
        names = sorted(gazetteer.municipalities[c].name for c in codes)
        return {"municipalities": names, "regions": []}

    return run
