"""keywords_nl.txt parsing, bundled data paths and the hashes behind the classifier version."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from listener.errors import ConfigError

THEMES: tuple[str, ...] = (
    "voorzieningen", "onderwijs", "zorg", "mobiliteit", "wonen", "werk",
    "jongeren", "ouderen", "gemeenschap", "digitaal", "bevolking",
)
SIGNALS: tuple[str, ...] = ("probleem", "initiatief")
# Helper sections: vocabulary that steers the rules but is not a tag itself.
HELPERS: tuple[str, ...] = ("verandering", "ontkenning", "opgelost", "locatie", "uitzondering", "lokaal")
SECTIONS: tuple[str, ...] = THEMES + SIGNALS + HELPERS
OPTIONS = ("zwak", "begin", "heel", "deel", "niet")
GAP = "..."

# Storage keys of the Doc._ extensions the components write; components and Classifier use
# doc.user_data directly, which skips the Underscore object every doc._ access creates.
DOC_TOPICS = ("._.", "listener_topics", None, None)
DOC_LOCAL = ("._.", "listener_local", None, None)
DOC_PLACES = ("._.", "listener_places", None, None)
DOC_REGIONS = ("._.", "listener_regions", None, None)
# One array export per Doc, shared: {lexeme flag: positions of the tokens that carry it}, LOWER of
# every token. The first component writes it, later ones read it (each can also make its own).
DOC_SCAN = "listener_scan"
# What else a chunk holds (``chunks.Chunk.bits``; a post ORs its chunks' bits): tokens the place linker
# looks up; a token whose type is a theme word (without one ThemeMatcher.topics gives nothing); a token
# that may be a word from [lokaal] (without one, themes count only in a post with a place or region).
# Here, not in chunks.py, so that importing the package does not import spaCy.
PLACE, TOPIC, LOCAL = 4, 8, 16

DATA_DIR = Path(__file__).resolve().parent / "data"
_REPO_KEYWORDS = Path(__file__).resolve().parent.parent / "keywords_nl.txt"
_SECTION_RE = re.compile(r"^\[([^\]]*)\]$")


def fold(text: str) -> str:
    """Lower case without diacritics and without a leading '#': 'Coöperatie' → 'cooperatie'."""
    text = text.lower().lstrip("#")
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of keywords_nl.txt: a phrase (words, '...' for a gap) and its options."""

    section: str
    phrase: str
    words: tuple[str, ...]
    line: int
    weak: bool = False
    begin: bool = False
    whole: bool = False
    part: bool = False
    unless: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KeywordData:
    """Parsed keywords_nl.txt: entries per section, in file order."""

    path: Path
    sections: dict[str, tuple[Entry, ...]] = field(default_factory=dict)

    def entries(self, section: str) -> tuple[Entry, ...]:
        """The entries of one section (empty if the file has none)."""
        return self.sections.get(section, ())


def _parse_options(raw: str, where: str) -> dict:
    opts: dict = {}
    for item in raw.split():
        name, _, value = item.partition("=")
        if name not in OPTIONS:
            raise ConfigError(f"{where}: unknown option '{name}' (known: {', '.join(OPTIONS)})")
        if name == "niet":
            words = tuple(fold(w) for w in value.split(",") if w.strip())
            if not words:
                raise ConfigError(f"{where}: option 'niet=' needs words, e.g. niet=trui,wasbeurt")
            opts["unless"] = opts.get("unless", ()) + words
        elif value:
            raise ConfigError(f"{where}: option '{name}' takes no value")
        else:
            opts[{"zwak": "weak", "begin": "begin", "heel": "whole", "deel": "part"}[name]] = True
    return opts


def load_keywords(path: Path | str) -> KeywordData:
    """Parse a keywords file; ConfigError names the file and line of the first bad line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read keyword file: {exc}") from exc
    sections: dict[str, list[Entry]] = {}
    current: str | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path.name}:{lineno}"
        m = _SECTION_RE.match(line)
        if m:
            current = m.group(1).strip()
            if current not in SECTIONS:
                raise ConfigError(f"{where}: unknown section [{current}]")
            sections.setdefault(current, [])
            continue
        if line.startswith("["):
            raise ConfigError(f"{where}: malformed section header {line!r}")
        if current is None:
            raise ConfigError(f"{where}: phrase {line!r} before the first [section]")
        phrase, bar, raw_opts = line.partition("|")
        phrase = " ".join(phrase.split())
        opts = _parse_options(raw_opts, where) if bar else {}
        words = tuple(fold(w) if w != GAP else GAP for w in phrase.split())
        if not words or words[0] == GAP or words[-1] == GAP:
            raise ConfigError(f"{where}: malformed phrase {line!r}")
        if any(not w.strip("#'-.") for w in words if w != GAP):
            raise ConfigError(f"{where}: malformed phrase {line!r}")
        sections[current].append(Entry(current, phrase, words, lineno, **opts))
    return KeywordData(path, {k: tuple(v) for k, v in sections.items()})


def bundled_keywords_path() -> Path:
    """The keyword file shipped with the code (repo root, or classifiers/data in a wheel)."""
    packaged = DATA_DIR / "keywords_nl.txt"
    return packaged if packaged.exists() else _REPO_KEYWORDS


def default_keywords_path(explicit: Path | str | None = None) -> Path:
    """Keyword file to use: argument > $LISTENER_KEYWORDS > ./keywords_nl.txt > bundled copy."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("LISTENER_KEYWORDS")
    if env:
        return Path(env)
    local = Path.cwd() / "keywords_nl.txt"
    if local.is_file():
        return local
    return bundled_keywords_path()


def default_gazetteer_dir() -> Path:
    """The gazetteer directory shipped with the code."""
    return DATA_DIR


def files_hash(paths: list[Path]) -> str:
    """Short sha256 over the bytes of the given files (in the given order)."""
    digest = hashlib.sha256()
    for p in paths:
        digest.update(p.name.encode())
        digest.update(Path(p).read_bytes())
    return digest.hexdigest()[:8]
