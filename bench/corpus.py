"""Deterministic generators of realistic 15-60-word Dutch posts for the benchmarks.

``posts()`` gives bare texts for the classifier benchmark (bench_classify.py); ``records()``
gives import records with dates, ids and platforms for the ingest and report benchmarks
(make_corpus.py writes them as JSONL and RSS).
"""

from __future__ import annotations

import bisect
import csv
import itertools
import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

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


# --- records for the ingest and report benchmarks (bench/make_corpus.py) ---------------------------
# Everything below is separate from posts() above, which bench_classify.py relies on unchanged.

TZ = ZoneInfo("Europe/Amsterdam")
DATA = Path(__file__).resolve().parent.parent / "classifiers" / "data"
# theme → things people write about (each phrase holds a word of that theme in keywords_nl.txt)
SUBJECTS_BY_THEME = {
    "voorzieningen": ["de supermarkt", "de pinautomaat", "de bibliotheek", "het postkantoor", "de dorpswinkel",
                      "de bakker", "het zwembad", "de slagerij", "de Jumbo", "de geldautomaat", "het café"],
    "onderwijs": ["de dorpsschool", "de basisschool", "de peuterspeelzaal", "de kinderopvang", "het schoolgebouw",
                  "de bso", "de middelbare school"],
    "zorg": ["de huisarts", "de huisartsenpraktijk", "de apotheek", "de tandarts", "de thuiszorg", "de fysio",
             "het gezondheidscentrum", "de huisartsenpost"],
    "mobiliteit": ["de buslijn", "de buurtbus", "de belbus", "het station", "de bushalte", "de regiotaxi",
                   "de stoptrein", "het openbaar vervoer"],
    "wonen": ["de starterswoningen", "de huurwoningen", "de woningbouw", "de nieuwbouw", "de seniorenwoningen",
              "de woningcorporatie", "de tiny houses"],
    "werk": ["de fabriek", "het bedrijventerrein", "de werkgelegenheid", "de vacatures", "het personeelstekort",
             "de stageplekken"],
    "jongeren": ["de jongerensoos", "het jongerencentrum", "de jeugdsoos", "de hangplek voor jongeren",
                 "de studenten", "de jonge gezinnen"],
    "ouderen": ["het verzorgingshuis", "de ouderenzorg", "de dagbesteding voor ouderen", "de ouderensoos",
                "het verpleeghuis", "de boodschappendienst voor senioren"],
    "gemeenschap": ["het dorpshuis", "het buurthuis", "de dorpsvereniging", "het dorpsfeest", "de kermis",
                    "het mfa", "de ijsvereniging"],
    "digitaal": ["de glasvezel", "het mobiele bereik", "de zendmast", "het snelle internet", "het digicafé",
                 "de computerles voor ouderen"],
    "bevolking": ["de krimp", "de vergrijzing", "de bevolkingsdaling", "het aantal inwoners", "de leegloop"],
}
PROBLEM_EVENTS = ["sluit per 1 mei", "verdwijnt na de zomer", "stopt ermee", "gaat dicht", "rijdt niet meer",
                  "wordt opgeheven", "is weg en komt niet terug", "wordt wegbezuinigd", "moet sluiten",
                  "heeft geen opvolger", "staat al maanden leeg", "gaat per januari dicht"]
INITIATIVE_EVENTS = ["zoekt vrijwilligers", "wordt overgenomen door bewoners", "krijgt een doorstart dankzij het dorp",
                     "wordt een coöperatie van inwoners", "draait voortaan op vrijwilligers",
                     "zoekt nieuwe leden en chauffeurs", "komt terug dankzij een crowdfundingsactie"]
NEUTRAL_EVENTS = ["blijft gelukkig open", "krijgt een nieuwe plek", "is verbouwd", "heeft nieuwe openingstijden",
                  "was vanavond onderwerp in de raad", "staat op de agenda van de gemeente"]
INITIATIVE_LEADS = ["Bewoners van {place} starten een initiatief voor {subj}.",
                    "In {place} slaan inwoners de handen ineen: {subj} {event}.",
                    "Dorpsbelang {place} zamelt geld in voor {subj}.",
                    "Mooi initiatief in {place}: {subj} {event}."]
CONTACT = ["Aanmelden via info@dorpsbelang.nl", "Bel Henk op 06-12345678", "Mail naar j.devries@gmail.com",
           "Doneren kan op NL91ABNA0417164300", "Meer weten? Stuur een DM naar @dorpsbelang"]
HASHTAGS = ["#krimp", "#leefbaarheid", "#dorpsleven", "#platteland", "#samenredden", "#gemeenteraad"]
DOMAINS = ["www.rtvnoord.nl", "www.omroepzeeland.nl", "www.dvhn.nl", "www.tubantia.nl", "www.gelderlander.nl",
           "www.lc.nl", "www.1limburg.nl", "nieuws.dorpskrant.nl", "reddit.com/r/thenetherlands", "x.com/i/web"]
PLATFORMS = [("rss", 0.35), ("x", 0.2), ("reddit", 0.1), ("mastodon", 0.15), ("bluesky", 0.1), ("facebook", 0.1)]
# Posts that look relevant but are not (no place, another meaning): the classifier should drop them.
DISTRACTORS = ["Mijn trui is gekrompen in de was, balen!", "FC Twente wint met 3-1, wat een wedstrijd.",
               "Vandaag een school makrelen gezien vanaf de boot.", "De huisarts zei dat ik het rustig aan moet doen.",
               "Fiets gestolen bij de supermarkt, wie heeft iets gezien?", "Bergen in Noorwegen is prachtig in de zomer.",
               "Die bus vol folders staat al de hele dag voor de deur.", "Mijn zoon gaat na de zomer naar de middelbare school."]
# Everyday sentences around the news: what makes a post 15-60 words and most of its words noise.
FILLERS = ["Wat een mooie dag vandaag.", "We zijn met de hele familie naar het strand geweest.",
           "Morgen weer vroeg op want de kinderen moeten naar voetbal.", "Heeft iemand tips voor een goede serie?",
           "De buren hebben een nieuwe hond die de hele nacht blaft.", "Het weer is ook niks deze week.",
           "Zaterdag schijnt de zon weer.", "Koffie met appeltaart is toch het beste wat er is.",
           "Fijne avond allemaal.", "Ik snap er echt helemaal niks meer van.", "Dit is toch niet normaal meer?",
           "Mijn moeder woont er al veertig jaar.", "Vroeger was hier alles nog gewoon te vinden.",
           "Dan moeten we straks allemaal de auto pakken.", "De gemeente zegt dat er geen geld voor is.",
           "Wie gaat er mee naar de vergadering in de kantine?", "Er komt donderdag een informatieavond.",
           "Het stond vanmorgen ook in de krant.", "Zonde, want het was altijd gezellig druk.",
           "Dat hoor je de laatste tijd steeds vaker.", "Wij gaan in ieder geval kijken.",
           "Ik ben benieuwd hoe dit verder gaat.", "Laat maar weten als je wilt helpen.",
           "Op de markt had iedereen het erover.", "Mijn opa vertelde vroeger dat het net zo ging.",
           "De wethouder komt volgende week langs.", "Het is al de derde keer dit jaar.",
           "Hopelijk komt er snel duidelijkheid.", "Iedereen in de straat is er stil van.",
           "Volgende maand is er weer een bijeenkomst."]
FOREIGN = ["The bus service in our village stopped last year and nobody seems to care about it anymore.",
           "Die Bäckerei in unserem Dorf schließt nächste Woche, das ist wirklich sehr schade für alle hier.",
           "La boulangerie du village ferme ses portes la semaine prochaine, quelle tristesse pour nous tous ici."]


def _names(path: Path, column: int = 0) -> set[str]:
    with path.open(encoding="utf-8") as fh:
        return {row[column].strip().lower() for row in csv.reader(fh, delimiter="\t") if row and not row[0].startswith("#")}


def load_places(data_dir: Path = DATA) -> list[tuple[str, float]]:
    """(woonplaats, weight): unambiguous gazetteer places, weights Zipf-like so some places dominate."""
    avoid = _names(data_dir / "woorden.tsv") | _names(data_dir / "dubbelzinnig.tsv")
    seen: dict[str, int] = {}
    with (data_dir / "woonplaatsen.tsv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh, delimiter="\t") if len(r) == 2 and not r[0].startswith("#") and r[0] != "place"]
    for name, _code in rows:
        seen[name] = seen.get(name, 0) + 1
    names = sorted(n for n, k in seen.items() if k == 1 and n.lower() not in avoid and n[0].isupper() and "'" not in n)
    random.Random(11).shuffle(names)  # the popular places are a fixed random draw
    return [(n, 1.0 / (rank + 10) ** 0.9) for rank, n in enumerate(names)]


def week_window(end_week: str | None, weeks: int) -> tuple[datetime, datetime]:
    """UTC [start, end) of ``weeks`` ISO weeks ending with ``end_week`` (default: the last complete week)."""
    if end_week:
        year, num = end_week.split("-W")
        monday = date.fromisocalendar(int(year), int(num), 1)
    else:
        today = datetime.now(TZ).date()
        monday = today - timedelta(days=today.weekday() + 7)
    end = datetime.combine(monday + timedelta(days=7), datetime.min.time(), TZ)
    start = datetime.combine(monday - timedelta(weeks=weeks - 1), datetime.min.time(), TZ)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


class RecordMaker:
    """Import records (text, url, created_at, platform, external_id, author) for one seed and window."""

    def __init__(self, seed: int = 7, end_week: str | None = None, weeks: int = 16) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        places = load_places()
        self.places = [p for p, _ in places]
        self.place_cum = list(itertools.accumulate(w for _, w in places))
        self.platforms = [p for p, _ in PLATFORMS]
        self.platform_cum = list(itertools.accumulate(w for _, w in PLATFORMS))
        self.start, self.end = week_window(end_week, weeks)
        self.span = int((self.end - self.start).total_seconds())
        self.themes = list(SUBJECTS_BY_THEME)
        self.recent: list[str] = []  # relevant texts that may come in again (reposts, two feeds)

    def _place(self) -> str:
        return self.places[bisect.bisect(self.place_cum, self.rng.random() * self.place_cum[-1])]

    def _subject(self) -> str:
        return self.rng.choice(SUBJECTS_BY_THEME[self.rng.choice(self.themes)])

    def _fill(self, head: list[str], tail: list[str]) -> str:
        """head + everyday sentences + tail, 15-60 words in all."""
        count = len(" ".join(head + tail).split())
        target = self.rng.randint(max(15, count), 60)
        middle: list[str] = []
        while count < target:
            sentence = self.rng.choice(FILLERS)
            n = len(sentence.split())
            if count + n > 60:
                sentence = " ".join(self.rng.sample(CHATTER, max(1, 60 - count))) + "."
                n = len(sentence.split())
            middle.append(sentence)
            count += n
        return " ".join(head + middle + tail)

    def _relevant(self) -> str:
        r = self.rng
        place = self._place()
        kind = r.random()
        event = r.choice(PROBLEM_EVENTS if kind < 0.55 else INITIATIVE_EVENTS if kind < 0.8 else NEUTRAL_EVENTS)
        subj = self._subject()
        if kind >= 0.55 and kind < 0.8 and r.random() < 0.5:
            words = [r.choice(INITIATIVE_LEADS).format(place=place, subj=subj, event=event)]
        elif r.random() < 0.2:
            words = [f"#{place.replace(' ', '').replace('-', '')}", subj[0].upper() + subj[1:], event + "."]
        else:
            where = f"in {place}" if r.random() < 0.85 else f"in de {r.choice(REGIONS)}"
            words = [r.choice(OPENERS), subj, where, event + "."]
        if r.random() < 0.25:
            words += ["Ook", self._subject(), "heeft het moeilijk."]
        if r.random() < 0.15:
            words += ["Iedereen uit de", r.choice(REGIONS), "weet hoe dat voelt."]
        tail = [r.choice(CONTACT) + "."] if r.random() < 0.1 else []
        if r.random() < 0.4:
            tail.append(" ".join(r.sample(HASHTAGS, r.randint(1, 3))))
        if r.random() < 0.3:
            tail.append(f"https://{r.choice(DOMAINS)}/{r.randrange(10**6)}")
        return self._fill(words, tail)

    def _noise(self) -> str:
        r = self.rng
        kind = r.random()
        if kind < 0.5:
            return self._fill([r.choice(FILLERS)], [r.choice(HASHTAGS)] if r.random() < 0.3 else [])
        if kind < 0.9:
            return self._fill([r.choice(DISTRACTORS)], [])
        return r.choice(FOREIGN)

    def record(self, i: int) -> dict[str, Any]:
        """The i-th record (records must be made in order: the stream is one random sequence)."""
        r = self.rng
        roll = r.random()
        if roll < 0.04 and self.recent:
            text = r.choice(self.recent)  # the same text again under another id: counts once in reports
            if r.random() < 0.5 and len(text.split()) < 60:
                text += f" https://{r.choice(DOMAINS)}/{r.randrange(10**6)}"
        elif roll < 0.82:
            text = self._relevant()
            if len(self.recent) < 2000:
                self.recent.append(text)
            else:
                self.recent[r.randrange(2000)] = text
        else:
            text = self._noise()
        platform = self.platforms[bisect.bisect(self.platform_cum, r.random() * self.platform_cum[-1])]
        when = datetime.fromtimestamp(self.start.timestamp() + r.randrange(self.span), TZ)
        return {"external_id": f"bench-{self.seed}-{i}", "platform": platform, "created_at": when.isoformat(),
                "url": f"https://{r.choice(DOMAINS)}/bericht/{self.seed}-{i}", "author": f"inwoner{r.randrange(60_000)}",
                "text": text}


def records(n: int, seed: int = 7, end_week: str | None = None, weeks: int = 16) -> Iterator[dict[str, Any]]:
    """n import records over ``weeks`` weeks ending with ``end_week``; the first k of n are those of k."""
    maker = RecordMaker(seed, end_week, weeks)
    for i in range(n):
        yield maker.record(i)
