"""keywords_nl.txt parsing and path resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.data import SECTIONS, THEMES, default_keywords_path, fold, load_keywords
from listener.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "keywords_nl.txt"
    p.write_text(text, encoding="utf-8")
    return p


def test_bundled_file_parses_and_covers_taxonomy():
    data = load_keywords(REPO / "keywords_nl.txt")
    for theme in THEMES + ("probleem", "initiatief"):
        assert len(data.entries(theme)) >= 15, theme
    assert sum(len(v) for v in data.sections.values()) > 700
    assert set(data.sections) <= set(SECTIONS)


def test_unknown_section_names_file_and_line(tmp_path):
    p = write(tmp_path, "# comment\n[zorg]\nhuisarts\n\n[foo]\nbar\n")
    with pytest.raises(ConfigError, match=r"keywords_nl.txt:5: unknown section \[foo\]"):
        load_keywords(p)


@pytest.mark.parametrize("text, where", [
    ("huisarts\n", ":1: phrase"),
    ("[zorg]\nhuisarts | sterk\n", ":2: unknown option 'sterk'"),
    ("[zorg]\n... huisarts\n", ":2: malformed phrase"),
    ("[zorg\nhuisarts\n", ":1: malformed section"),
    ("[zorg]\nhuisarts | niet=\n", ":2: option 'niet='"),
])
def test_malformed_lines(tmp_path, text, where):
    with pytest.raises(ConfigError, match=where):
        load_keywords(write(tmp_path, text))


def test_options_are_parsed(tmp_path):
    data = load_keywords(write(tmp_path, "[onderwijs]\nschool | zwak niet=Makrelen,vis\nhuisarts | begin heel\n"))
    school, huisarts = data.entries("onderwijs")
    assert school.weak and school.unless == ("makrelen", "vis")
    assert huisarts.begin and huisarts.whole and huisarts.line == 3


def test_fold_strips_accents_case_and_hashtag():
    assert fold("#Coöperatie") == "cooperatie"
    assert fold("Doarpshûs") == "doarpshus"


def test_default_path_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("LISTENER_KEYWORDS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_keywords_path().name == "keywords_nl.txt"
    assert default_keywords_path().exists()
    local = write(tmp_path, "[zorg]\nhuisarts\n")
    assert default_keywords_path().resolve() == local.resolve()
    monkeypatch.setenv("LISTENER_KEYWORDS", "/elders/kw.txt")
    assert default_keywords_path() == Path("/elders/kw.txt")
    assert default_keywords_path("x.txt") == Path("x.txt")


def test_version_changes_with_keyword_file(tmp_path):
    from classifiers import Classifier

    p = write(tmp_path, (REPO / "keywords_nl.txt").read_text(encoding="utf-8"))
    v1 = Classifier(p).version
    p.write_text(p.read_text(encoding="utf-8") + "\n[zorg]\ngezondheidshuis\n", encoding="utf-8")
    v2 = Classifier(p).version
    assert v1 != v2 and v1.split("-gz")[1] == v2.split("-gz")[1]
    assert v1.startswith("0.1.0+kw")
