"""Gazetteer contents and resolve_municipality()."""

from __future__ import annotations

import shutil

import pytest

from classifiers.gazetteer import load_gazetteer, resolve_municipality, squash
from listener.errors import ConfigError


def test_contents():
    g = load_gazetteer()
    assert len(g.municipalities) == 342
    assert {c for cands in g.names.values() for c in cands} == set(g.municipalities)
    assert len(g.regions) == 20
    assert g.kind("best") == "woord" and g.kind("bergen") == "gedeeld" and g.kind("emmen") == "normaal"


@pytest.mark.parametrize("query, expected", [
    ("GM0014", ("GM0014", "Groningen")),
    ("gm1970", ("GM1970", "Noardeast-Fryslân")),
    ("Noardeast-Fryslân", ("GM1970", "Noardeast-Fryslân")),
    ("laren (nh.)", ("GM0417", "Laren (NH.)")),
    ("Den Haag", ("GM0518", "'s-Gravenhage")),
    ("Dokkum", ("GM1970", "Noardeast-Fryslân")),
    ("Dongeradeel", ("GM1970", "Noardeast-Fryslân")),
    ("Bergen", None),
    ("Atlantis", None),
    ("GM0000", None),
])
def test_resolve_municipality(query, expected):
    assert resolve_municipality(query) == expected


def test_squash():
    assert squash("#Zeeuws-Vlaanderen") == "zeeuwsvlaanderen"
    assert squash("Súdwest-Fryslân") == "sudwestfryslan"


def test_bad_file_names_file_and_line(tmp_path):
    from classifiers.data import default_gazetteer_dir

    for f in default_gazetteer_dir().glob("*.t*"):
        shutil.copy(f, tmp_path / f.name)
    with open(tmp_path / "dubbelzinnig.tsv", "a", encoding="utf-8") as fh:
        fh.write("sluis\tonbekend\twhy\n")
    with pytest.raises(ConfigError, match=r"dubbelzinnig.tsv:\d+: unknown kind 'onbekend'"):
        load_gazetteer(tmp_path)
