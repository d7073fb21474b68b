"""The municipality gazetteer: CBS codes and names, woonplaatsen, aliases, regions, context words."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from classifiers.data import default_gazetteer_dir
from listener.errors import ConfigError

log = logging.getLogger(__name__)
GAZETTEER_FILES = ("gemeenten.tsv", "woonplaatsen.tsv", "woorden.tsv", "aliassen.tsv",
                   "dubbelzinnig.tsv", "regios.tsv", "plaatscontext.txt")
KINDS = ("woord", "gedeeld", "elders", "provincie", "normaal", "nooit")
CONTEXT_SECTIONS = ("voorzetsels", "plaatswoorden", "richting", "lijst", "blokkeer", "provincies", "afkortingen")
_CODE_RE = re.compile(r"^GM\d{4}$", re.IGNORECASE)


def squash(text: str) -> str:
    """Accent-, case- and punctuation-free key: '#ZeeuwsVlaanderen' → 'zeeuwsvlaanderen'."""
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if c.isalnum() and not unicodedata.combining(c))


def short_name(name: str) -> str:
    """CBS name without its province qualifier: 'Bergen (NH.)' → 'Bergen'."""
    return re.sub(r"\s*\([^)]*\)$", "", name)


@dataclass(frozen=True, slots=True)
class Municipality:
    """One current municipality as CBS names it."""

    code: str
    name: str
    province: str


@dataclass(slots=True)
class Gazetteer:
    """Everything the municipality linker and the reports need to know about places."""

    directory: Path
    municipalities: dict[str, Municipality] = field(default_factory=dict)
    names: dict[str, dict[str, str | None]] = field(default_factory=dict)  # lower name → code → place
    surface: dict[str, set[str]] = field(default_factory=dict)  # lower name → spellings as written
    kinds: dict[str, str] = field(default_factory=dict)
    words: set[str] = field(default_factory=set)  # names that are also ordinary words (woorden.tsv)
    regions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # region → provinces
    region_variants: dict[str, str] = field(default_factory=dict)  # spelling → region
    context: dict[str, list[str]] = field(default_factory=dict)
    by_squash: dict[str, tuple[str, str]] = field(default_factory=dict)  # squashed → (kind P/R, key)

    @property
    def files(self) -> list[Path]:
        """The data files whose contents define this gazetteer (for the version hash)."""
        return [self.directory / f for f in GAZETTEER_FILES if (self.directory / f).exists()]

    def kind(self, key: str) -> str:
        """How a name (lower case) is treated: normaal, woord, gedeeld, elders, provincie, nooit."""
        return self.kinds.get(key, "normaal")

    def by_name(self, name: str) -> Municipality | None:
        """A municipality by its official CBS name or short name, case-insensitive."""
        code = self._name_to_code().get(name.lower())
        return self.municipalities.get(code) if code else None

    def _name_to_code(self) -> dict[str, str]:
        out: dict[str, str] = {}
        shorts: dict[str, list[str]] = {}
        for m in self.municipalities.values():
            out[m.name.lower()] = m.code
            shorts.setdefault(short_name(m.name).lower(), []).append(m.code)
        for s, codes in shorts.items():
            if len(codes) == 1:
                out.setdefault(s, codes[0])
        return out

    def resolve(self, name_or_code: str) -> tuple[str, str] | None:
        """(code, official name) for a CBS code, official name, short name, alias or unique woonplaats."""
        text = name_or_code.strip()
        if _CODE_RE.match(text):
            m = self.municipalities.get(text.upper())
            return (m.code, m.name) if m else None
        m = self.by_name(text)
        if m:
            return m.code, m.name
        cands = self.names.get(text.lower()) or self.names.get(_fold_key(text)) or {}
        if len(cands) == 1:
            code = next(iter(cands))
            return code, self.municipalities[code].name
        return None


def _fold_key(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def _rows(path: Path, ncols: int) -> list[tuple[list[str], int]]:
    if not path.exists():
        raise ConfigError(f"{path}: gazetteer file is missing")
    out = []
    header_seen = False
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        cols = raw.split("\t")
        if len(cols) < ncols:
            raise ConfigError(f"{path.name}:{lineno}: expected {ncols} tab-separated columns, got {len(cols)}")
        if not header_seen and cols[0] in ("code", "place", "name"):
            header_seen = True
            continue
        out.append(([c.strip() for c in cols], lineno))
    return out


def _context(path: Path) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {s: [] for s in CONTEXT_SECTIONS}
    current = None
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            if current not in sections:
                raise ConfigError(f"{path.name}:{lineno}: unknown section [{current}]")
            continue
        if current is None:
            raise ConfigError(f"{path.name}:{lineno}: entry before the first [section]")
        if current in ("provincies", "afkortingen") and "=" not in line:
            raise ConfigError(f"{path.name}:{lineno}: expected name=province, got {line!r}")
        sections[current].append(line)
    return sections


def _add(g: Gazetteer, name: str, code: str, place: str | None) -> None:
    key = name.lower()
    cands = g.names.setdefault(key, {})
    if code not in cands or (cands[code] is None and place is not None):
        cands[code] = place
    g.surface.setdefault(key, set()).add(name)
    g.by_squash.setdefault(squash(name), ("P", key))


def load_gazetteer(directory: Path | str | None = None) -> Gazetteer:
    """Read the gazetteer files; ConfigError names the file and line of a bad row."""
    directory = Path(directory) if directory else default_gazetteer_dir()
    g = Gazetteer(directory)
    for cols, _ in _rows(directory / "gemeenten.tsv", 3):
        g.municipalities[cols[0]] = Municipality(cols[0], cols[1], cols[2])
    official = {m.name: m.code for m in g.municipalities.values()}
    short_count: dict[str, int] = {}
    for m in g.municipalities.values():
        short_count[short_name(m.name)] = short_count.get(short_name(m.name), 0) + 1
    for m in g.municipalities.values():
        _add(g, m.name, m.code, None)
        _add(g, short_name(m.name), m.code, None)
    for (place, code), lineno in _rows(directory / "woonplaatsen.tsv", 2):
        if code not in g.municipalities:  # merged away after the last update: see `gazetteer update`
            log.warning("woonplaatsen.tsv:%d: unknown municipality code %s, skipped", lineno, code)
            continue
        same = short_name(g.municipalities[code].name) == place
        _add(g, place, code, None if same else place)
    for (alias, target, kind), lineno in _rows(directory / "aliassen.tsv", 3):
        if target not in official:
            raise ConfigError(f"aliassen.tsv:{lineno}: unknown municipality {target!r}")
        _add(g, alias, official[target], alias if kind == "woonplaats" else None)
    for (name, _reason), _ in _rows(directory / "woorden.tsv", 2):
        g.kinds[name.lower()] = "woord"
        g.words.add(name.lower())
    for (name, kind, _why), lineno in _rows(directory / "dubbelzinnig.tsv", 3):
        if kind not in KINDS:
            raise ConfigError(f"dubbelzinnig.tsv:{lineno}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
        g.kinds[name.lower()] = kind
        if kind == "woord":
            g.words.add(name.lower())
        elif kind == "normaal":
            g.words.discard(name.lower())
    for (region, provinces, variants), _ in _rows(directory / "regios.tsv", 3):
        g.regions[region] = tuple(p.strip() for p in provinces.split(","))
        for v in [region] + [v for v in variants.split("|") if v.strip()]:
            g.region_variants[v.strip()] = region
            g.by_squash[squash(v)] = ("R", region)
    g.context = _context(directory / "plaatscontext.txt")
    return g


@lru_cache(maxsize=4)
def _cached(directory: str) -> Gazetteer:
    return load_gazetteer(directory)


def default_gazetteer() -> Gazetteer:
    """The bundled gazetteer (cached)."""
    return _cached(str(default_gazetteer_dir()))


def resolve_municipality(name_or_code: str, gazetteer: Gazetteer | None = None) -> tuple[str, str] | None:
    """(CBS code, official name) for 'GM0014', 'Groningen', 'Den Haag', 'Dokkum'...; None if unknown or ambiguous."""
    return (gazetteer or default_gazetteer()).resolve(name_or_code)
