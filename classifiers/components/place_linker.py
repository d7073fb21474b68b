"""listener_place_linker: municipalities (via names, woonplaatsen, aliases, hashtags) and regions."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Iterable

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from classifiers.data import DOC_PLACES, DOC_REGIONS
from classifiers.gazetteer import Gazetteer, load_gazetteer, short_name, squash

for _name in ("listener_places", "listener_regions"):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)

_STRICT = ("woord", "gedeeld")
_PLACES, _REGIONS = DOC_PLACES, DOC_REGIONS


def _variants(name: str) -> set[str]:
    out = {name, name.replace("’", "'")}
    if "'" in name:
        out.add(name.replace("'", "’"))
    if "-" in name:
        out.add(name.replace("-", " "))
    plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    out.add(plain)
    return out


class PlaceLinker:
    """Writes ``doc._.listener_places`` [(code, place, start, end)] and ``doc._.listener_regions``."""

    def __init__(self, nlp: Language, name: str = "listener_place_linker") -> None:
        self.name = name
        self.nlp = nlp
        self.gazetteer: Gazetteer | None = None

    def initialize(self, get_examples=None, *, nlp: Language | None = None,
                   gazetteer_dir: str | Path | None = None) -> None:
        """Load the gazetteer and build the phrase matcher (one pattern per spelling)."""
        g = self.gazetteer = load_gazetteer(gazetteer_dir)
        ctx = g.context
        self.preps = {w.lower() for w in ctx["voorzetsels"]}
        self.nouns = {w.lower() for w in ctx["plaatswoorden"]}
        self.direction = {w.lower() for w in ctx["richting"]}
        self.listing = {w.lower() for w in ctx["lijst"]}
        self.provinces = dict(line.split("=", 1) for line in ctx["provincies"])
        self.qualifiers = dict(line.split("=", 1) for line in ctx["afkortingen"])
        self.qualifiers_ci = {k.lower().rstrip("."): v for k, v in self.qualifiers.items()}
        make = self.nlp.make_doc
        m = self.matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        strings = self.nlp.vocab.strings
        self.labels: dict[int, tuple[str, str]] = {}

        def add(kind: str, key: str, spellings: Iterable[str]) -> None:
            label = f"{kind}|{key}"
            self.labels[strings.add(label)] = (kind, key)
            m.add(label, [make(v) for s in spellings for v in _variants(s)])

        strict = self.strict = PhraseMatcher(self.nlp.vocab, attr="ORTH")
        for key, spellings in g.surface.items():
            kind = g.kind(key)
            if kind in _STRICT or kind == "elders":
                # ordinary-word names only ever count capitalised: match them case-sensitively
                label = f"P|{key}"
                self.labels[strings.add(label)] = ("P", key)
                forms = {v for s in spellings for v in _variants(s)}
                forms |= {f.upper() for f in forms}
                forms |= {f + "." for f in forms if len(make(f + ".")) == 1}  # "bij Best." is one token
                strict.add(label, [make(f) for f in forms])
            elif kind != "nooit":
                add("P", key, spellings)
        regions: dict[str, list[str]] = {}
        for variant, region in g.region_variants.items():
            regions.setdefault(region, []).append(variant)
        for region, spellings in regions.items():
            add("R", region, spellings)
        for word, prov in self.provinces.items():
            add("V", prov, [word])
        add("B", "", ctx["blokkeer"])
        add("H", "#", ["#"])
        self._hyphen_ok = True
        self._hyphen_flag = self.nlp.vocab.add_flag(lambda text: self._hyphen_key(text) is not None)

    def __call__(self, doc: Doc) -> Doc:
        if self.gazetteer is None:
            self.initialize()
        places, regions, provinces, blocks, hashes = [], [], [], [], []
        labels = self.labels
        for match_id, start, end in self.matcher(doc) + self.strict(doc):
            kind, key = labels[match_id]
            if kind == "H":
                hashes.append(start)
                continue
            item = (start, end, key, False)
            (places if kind == "P" else regions if kind == "R" else provinces if kind == "V" else blocks).append(item)
        if hashes:
            self._hashtags(doc, hashes, places, regions)
        if self._hyphen_ok:
            self._hyphenated(doc, places, regions)
        if not places and not regions:
            data = doc.user_data
            data[_REGIONS], data[_PLACES] = [], []
            return doc
        if blocks:
            places = [p for p in places if not _inside(p, blocks)]
            regions = [r for r in regions if not _inside(r, blocks)]
            provinces = [p for p in provinces if not _inside(p, blocks)]
        places = _longest(places)
        if regions:
            regions = [r for r in regions if not any(_strictly_inside(r, p) for p in places)]
            places = [p for p in places if not any(_strictly_inside(p, r) for r in regions)]
        data = doc.user_data
        data[_REGIONS] = [(key, doc[s].idx, _end(doc, e)) for s, e, key, _ in regions]
        data[_PLACES] = self._resolve(doc, places, regions, provinces) if places else []
        return doc

    def _hyphenated(self, doc: Doc, places: list, regions: list) -> None:
        """'Vorden-Hengelo', 'Ljouwert-Noard': a hyphenated word whose capitalised part is a place."""
        positions = doc.to_array(self._hyphen_flag).nonzero()[0].tolist()
        if positions:
            taken = {i for p in places + regions for i in range(p[0], p[1])}
            for i in positions:
                key = self._hyphen_key(doc[i].text)
                if key and i not in taken:
                    places.append((i, i + 1, key, False))

    def _hyphen_key(self, text: str) -> str | None:
        if "-" not in text or not text[:1].isupper():
            return None
        g = self.gazetteer
        if text.lower() in g.names:
            return None
        for part in text.split("-"):
            key = part.lower()
            if len(part) >= 3 and part[0].isupper() and key in g.names and g.kind(key) == "normaal" \
                    and key not in g.words:
                return key
        return None

    def _hashtags(self, doc: Doc, positions: list[int], places: list, regions: list) -> None:
        starts = {p[0] for p in places} | {r[0] for r in regions}
        for i in positions:
            tok = doc[i]
            if tok.i + 1 >= len(doc) or tok.i + 1 in starts:
                continue
            nxt = doc[tok.i + 1]
            if nxt.idx != tok.idx + 1:
                continue
            hit = self.gazetteer.by_squash.get(squash(nxt.text))
            if hit:
                (places if hit[0] == "P" else regions).append((tok.i + 1, tok.i + 2, hit[1], True))

    def _resolve(self, doc: Doc, places, regions, provinces) -> list[tuple[str, str | None, int, int]]:
        g = self.gazetteer
        post_provinces = {p[2] for p in provinces}
        for _, _, region, _ in regions:
            post_provinces.update(g.regions.get(region, ()))
        accepted: dict[int, tuple[str, str | None, int, int]] = {}
        ends: set[int] = set()
        pending = []
        for mention in sorted(places):
            start, end, key, tagged = mention
            cands = dict(g.names[key])
            kind = g.kind(key)
            prev = doc[start - 1].lower_ if start > 0 else ""
            tagged = tagged or prev == "#"
            if prev in self.direction and not tagged:
                continue
            qual_code, qual_prov = self._qualifier(doc, end)
            if qual_code and qual_code in cands:
                cands = {qual_code: cands[qual_code]}
            elif qual_prov:
                cands = {c: p for c, p in cands.items() if g.municipalities[c].province == qual_prov} or cands
            qualified = bool(qual_code or qual_prov) and len(cands) == 1
            text = doc[start:end].text
            capital = any(c.isupper() for c in text[:3])
            listed = prev in self.listing and (start - 1) in ends
            placed = prev in self.preps or prev in self.nouns or listed
            if kind == "woord" or key in g.words:
                ok = tagged or qualified or (capital and placed)
            elif kind == "gedeeld" or len(cands) > 1:
                ok = tagged or qualified or capital or placed
            elif kind == "elders":
                ok = qualified or (capital and prev in self.nouns)
            elif kind == "provincie":
                others = {p[2] for p in provinces if not (p[0] == start and p[1] == end)}
                ok = (capital or tagged or placed) and not others and prev not in ("provincie", "prov.")
            else:
                ok = capital or tagged or placed
            if kind == "elders" and not ok:
                pending.append((mention, cands, "elders"))
                continue
            if not ok:
                continue
            if len(cands) == 1:
                code, place = next(iter(cands.items()))
                accepted[start] = (code, place, doc[start].idx, _end(doc, end))
                ends.add(end)
            else:
                pending.append((mention, cands, kind))
        known = {a[0] for a in accepted.values()}
        known_provinces = post_provinces | {g.municipalities[c].province for c in known}
        for (start, end, key, _), cands, kind in pending:
            pick = [c for c in cands if c in known]
            if len(pick) != 1 and kind != "elders":
                pick = [c for c in cands if g.municipalities[c].province in known_provinces]
            if len(pick) != 1 and kind not in ("gedeeld", "elders"):
                pick = [c for c, p in cands.items() if p is None and short_name(g.municipalities[c].name).lower() == key]
            if len(pick) == 1:
                accepted[start] = (pick[0], cands[pick[0]], doc[start].idx, _end(doc, end))
        return [accepted[k] for k in sorted(accepted)]

    def _qualifier(self, doc: Doc, end: int) -> tuple[str | None, str | None]:
        """'(NH)', '(Gld)', '(gem. Rhenen)', '(gemeente Deurne)' right after a name."""
        if end >= len(doc) or doc[end].text not in ("(", ","):
            if end < len(doc) and doc[end].text in self.qualifiers:
                return None, self.qualifiers[doc[end].text]
            return None, None
        close = end + 1
        while close < len(doc) and close - end <= 5 and doc[close].text != ")":
            close += 1
        inner = doc[end + 1: close]
        if not len(inner):
            return None, None
        first = inner[0].lower_.rstrip(".")
        if first in ("gem", "gemeente"):
            m = self.gazetteer.resolve(inner[1:].text) if len(inner) > 1 else None
            return (m[0] if m else None), None
        if doc[end].text == "(":
            return None, self.qualifiers_ci.get(first)
        return None, None

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Save the gazetteer files next to the pipeline."""
        import shutil

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for f in self.gazetteer.files if self.gazetteer else []:
            shutil.copyfile(f, path / f.name)

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "PlaceLinker":
        """Load the gazetteer saved by to_disk."""
        self.initialize(gazetteer_dir=path)
        return self


def _end(doc: Doc, end: int) -> int:
    last = doc[end - 1]
    text = last.text
    # a tokenizer exception may glue the full stop to a name ("Best."); evidence stops before it
    return last.idx + len(text) - (1 if text.endswith(".") and len(text) > 1 and text[-2].isalpha() else 0)


def _inside(item, spans) -> bool:
    return any(s <= item[0] and item[1] <= e for s, e, *_ in spans)


def _strictly_inside(a, b) -> bool:
    return b[0] <= a[0] and a[1] <= b[1] and (a[0], a[1]) != (b[0], b[1])


def _longest(items: list) -> list:
    """Keep the longest of overlapping mentions ('Wijk bij Duurstede' over 'Wijk')."""
    out: list = []
    for it in sorted(items, key=lambda x: (x[0] - x[1], x[0])):
        if not any(it[0] < o[1] and o[0] < it[1] for o in out):
            out.append(it)
    return sorted(out)


@Language.factory("listener_place_linker")
def make_place_linker(nlp: Language, name: str) -> PlaceLinker:
    """Municipality and region linker driven by the gazetteer in classifiers/data/."""
    return PlaceLinker(nlp, name)
