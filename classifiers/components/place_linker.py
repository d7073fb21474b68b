"""listener_place_linker: municipalities (via names, woonplaatsen, aliases, hashtags) and regions."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path

from spacy.attrs import LOWER
from spacy.language import Language
from spacy.tokens import Doc

from classifiers.components.anchored import AnchoredPhrases, everyday_words
from classifiers.components.view import DocView, TokenView
from classifiers.data import DOC_PLACES, DOC_REGIONS, DOC_SCAN
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
    """Writes ``doc._.listener_places`` [(code, place, start, end)] and ``doc._.listener_regions``.

    The rules run on a TokenView (``link``), so the classifier can also use them without a Doc.
    """

    def __init__(self, nlp: Language, name: str = "listener_place_linker") -> None:
        self.name = name
        self.nlp = nlp
        self.gazetteer: Gazetteer | None = None
        self.strict_flag = self.trigger_flag = -1  # lexeme flag ids, set by initialize

    def initialize(self, get_examples=None, *, nlp: Language | None = None,
                   gazetteer_dir: str | Path | None = None) -> None:
        """Load the gazetteer and index its names (one phrase per spelling)."""
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
        vocab = self.nlp.vocab
        strings = vocab.strings
        common = everyday_words(self.nlp.Defaults.stop_words)
        # Phrase lookup starts from the tokens a lexeme flag marks (see anchored.py), so a post is only
        # looked at around them; most posts have none.
        m = self.matcher = AnchoredPhrases(vocab, "lower", common)
        strict = self.strict = AnchoredPhrases(vocab, "orth", lambda w: common(w.lower()))
        self.labels: dict[int, tuple[str, str]] = {}

        def add(kind: str, key: str, spellings: Iterable[str]) -> None:
            label = f"{kind}|{key}"
            self.labels[strings.add(label)] = (kind, key)
            m.add(label, [make(v) for s in spellings for v in _variants(s)])

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
        anchors, strict_anchors = m.finish(), strict.finish()
        self.anchor_words = frozenset(anchors | strict_anchors)  # what the trigger flag looks up
        lower = vocab.lex_attr_getters.get(LOWER, str.lower)
        # (initialize again, e.g. from_disk: the same flag bits are reused; spaCy has only 63)
        self.strict_flag = vocab.add_flag(lambda text: text in strict_anchors, self.strict_flag)
        self.trigger_flag = vocab.add_flag(
            lambda text: lower(text) in anchors or text in strict_anchors or self._hyphen_key(text) is not None,
            self.trigger_flag)
        hashtag = strings.add("H|#")
        self._hash_in_name = any(ids != (hashtag,) for _, _, ids in m.index.get(strings.add("#"), ()))

    def triggers(self, tokens: Doc) -> bool:
        """True when these tokens (a chunk of a post) could give a place or region on their own.

        Like the trigger flag, except that a '#' counts only before a place or region name.
        """
        for tok in tokens:
            if tok.check_flag(self.trigger_flag):
                if tok.lower_ != "#" or self._hash_in_name:
                    return True
                i = tok.i + 1
                if i < len(tokens) and tokens[i].idx == tok.idx + 1 and \
                        squash(tokens[i].text) in self.gazetteer.by_squash:
                    return True
        return False

    def __call__(self, doc: Doc) -> Doc:
        if self.gazetteer is None:
            self.initialize()
        data = doc.user_data
        scan = data.pop(DOC_SCAN, None)  # made by the theme matcher when it runs first
        if scan is not None and self.trigger_flag in scan[0]:
            positions, lowers = scan[0][self.trigger_flag], scan[1]
        else:
            arr = doc.to_array([self.trigger_flag, LOWER])
            positions, lowers = arr[:, 0].nonzero()[0].tolist(), arr[:, 1].tolist()
        data[_PLACES], data[_REGIONS] = self.link(DocView(doc, lowers), positions) if positions else ([], [])
        return doc

    def link(self, view: TokenView, positions: list[int], strict: list[int] | None = None) -> tuple[list, list]:
        """(places, regions) of a post: [(code, place, start_char, end_char)], [(region, start, end)].

        ``positions``: the tokens whose type carries ``trigger_flag``, in order; ``strict``: those that
        carry ``strict_flag`` (names matched case-sensitively), if known.
        """
        places, regions, provinces, blocks, hashes = [], [], [], [], []
        labels = self.labels
        strict = positions if strict is None else strict
        matches = self.matcher.find(view, positions)
        if strict:
            matches += self.strict.find(view, strict)
        for match_id, start, end in matches:
            kind, key = labels[match_id]
            if kind == "H":
                hashes.append(start)
                continue
            item = (start, end, key, False)
            (places if kind == "P" else regions if kind == "R" else provinces if kind == "V" else blocks).append(item)
        if hashes:
            self._hashtags(view, hashes, places, regions)
        hyphens = [i for i in positions if self._hyphen_key(view.text(i))]
        if hyphens:
            self._hyphenated(view, hyphens, places, regions)
        if not places and not regions:
            return [], []
        if blocks:
            places = [p for p in places if not _inside(p, blocks)]
            regions = [r for r in regions if not _inside(r, blocks)]
            provinces = [p for p in provinces if not _inside(p, blocks)]
        places = _longest(places)
        if regions:
            regions = [r for r in regions if not any(_strictly_inside(r, p) for p in places)]
            places = [p for p in places if not any(_strictly_inside(p, r) for r in regions)]
        found = self._resolve(view, places, regions, provinces) if places else []
        return found, [(key, view.idx(s), _end(view, e)) for s, e, key, _ in regions]

    def _hyphenated(self, view: TokenView, positions: list[int], places: list, regions: list) -> None:
        """'Vorden-Hengelo', 'Ljouwert-Noard': a hyphenated word whose capitalised part is a place."""
        taken = {i for p in places + regions for i in range(p[0], p[1])}
        for i in positions:
            key = self._hyphen_key(view.text(i))
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

    def _hashtags(self, view: TokenView, positions: list[int], places: list, regions: list) -> None:
        starts = {p[0] for p in places} | {r[0] for r in regions}
        for i in positions:
            if i + 1 >= view.n or i + 1 in starts:
                continue
            if view.idx(i + 1) != view.idx(i) + 1:
                continue
            hit = self.gazetteer.by_squash.get(squash(view.text(i + 1)))
            if hit:
                (places if hit[0] == "P" else regions).append((i + 1, i + 2, hit[1], True))

    def _resolve(self, view: TokenView, places, regions, provinces) -> list[tuple[str, str | None, int, int]]:
        g = self.gazetteer
        names, kinds, words, municipalities = g.names, g.kinds, g.words, g.municipalities
        direction, preps, nouns, listing = self.direction, self.preps, self.nouns, self.listing
        accepted: dict[int, tuple[str, str | None, int, int]] = {}
        ends: set[int] = set()
        pending = []
        for mention in sorted(places):
            start, end, key, tagged = mention
            cands = names[key]
            kind = kinds.get(key, "normaal")
            prev = view.lower_text(start - 1) if start > 0 else ""
            tagged = tagged or prev == "#"
            if prev in direction and not tagged:
                continue
            qual_code, qual_prov = self._qualifier(view, end)
            if qual_code and qual_code in cands:
                cands = {qual_code: cands[qual_code]}
            elif qual_prov:
                cands = {c: p for c, p in cands.items() if municipalities[c].province == qual_prov} or cands
            qualified = bool(qual_code or qual_prov) and len(cands) == 1
            head = view.text(start) if end - start == 1 else view.span_text(start, min(end, start + 3))
            capital = any(map(str.isupper, head[:3]))
            listed = prev in listing and (start - 1) in ends
            placed = prev in preps or prev in nouns or listed
            if kind == "woord" or key in words:
                ok = tagged or qualified or (capital and placed)
            elif kind == "gedeeld" or len(cands) > 1:
                ok = tagged or qualified or capital or placed
            elif kind == "elders":
                ok = qualified or (capital and prev in nouns)
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
                accepted[start] = (code, place, view.idx(start), _end(view, end))
                ends.add(end)
            else:
                pending.append((mention, cands, kind))
        if pending:
            known = {a[0] for a in accepted.values()}
            known_provinces = {p[2] for p in provinces} | {municipalities[c].province for c in known}
            for _, _, region, _ in regions:
                known_provinces.update(g.regions.get(region, ()))
            for (start, end, key, _), cands, kind in pending:
                pick = [c for c in cands if c in known]
                if len(pick) != 1 and kind != "elders":
                    pick = [c for c in cands if municipalities[c].province in known_provinces]
                if len(pick) != 1 and kind not in ("gedeeld", "elders"):
                    pick = [c for c, p in cands.items()
                            if p is None and short_name(municipalities[c].name).lower() == key]
                if len(pick) == 1:
                    accepted[start] = (pick[0], cands[pick[0]], view.idx(start), _end(view, end))
        return [accepted[k] for k in sorted(accepted)] if len(accepted) > 1 else list(accepted.values())

    def _qualifier(self, view: TokenView, end: int) -> tuple[str | None, str | None]:
        """'(NH)', '(Gld)', '(gem. Rhenen)', '(gemeente Deurne)' right after a name."""
        n = view.n
        after = view.text(end) if end < n else ""
        if after not in ("(", ","):
            if after in self.qualifiers:
                return None, self.qualifiers[after]
            return None, None
        close = end + 1
        while close < n and close - end <= 5 and view.text(close) != ")":
            close += 1
        if close == end + 1:  # nothing between the brackets
            return None, None
        first = view.lower_text(end + 1).rstrip(".")
        if first in ("gem", "gemeente"):
            m = self.gazetteer.resolve(view.span_text(end + 2, close)) if close > end + 2 else None
            return (m[0] if m else None), None
        if after == "(":
            return None, self.qualifiers_ci.get(first)
        return None, None

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Save the gazetteer files next to the pipeline."""
        import shutil

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for f in self.gazetteer.files if self.gazetteer else []:
            shutil.copyfile(f, path / f.name)

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> PlaceLinker:
        """Load the gazetteer saved by to_disk."""
        self.initialize(gazetteer_dir=path)
        return self


def _end(view: TokenView, end: int) -> int:
    text = view.text(end - 1)
    # a tokenizer exception may glue the full stop to a name ("Best."); evidence stops before it
    return view.idx(end - 1) + len(text) - (1 if text.endswith(".") and len(text) > 1 and text[-2].isalpha() else 0)


def _inside(item, spans) -> bool:
    return any(s <= item[0] and item[1] <= e for s, e, *_ in spans)


def _strictly_inside(a, b) -> bool:
    return b[0] <= a[0] and a[1] <= b[1] and (a[0], a[1]) != (b[0], b[1])


def _longest(items: list) -> list:
    """Keep the longest of overlapping mentions ('Wijk bij Duurstede' over 'Wijk')."""
    if len(items) < 2:
        return list(items)
    out: list = []
    for it in sorted(items, key=lambda x: (x[0] - x[1], x[0])):
        if not any(it[0] < o[1] and o[0] < it[1] for o in out):
            out.append(it)
    return sorted(out)


@Language.factory("listener_place_linker")
def make_place_linker(nlp: Language, name: str) -> PlaceLinker:
    """Municipality and region linker driven by the gazetteer in classifiers/data/."""
    return PlaceLinker(nlp, name)
