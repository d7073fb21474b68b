"""Public contract of classifiers.Classifier and Classification."""

from __future__ import annotations

import dataclasses
import re

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifiers import Classification, Evidence, MunicipalityTag

TEXTS = [
    "Per 1 april verdwijnt de pinautomaat bij de Spar in Warffum 😡 #HetHogeland",
    "Mooi weer vandaag.",
    "",
    "Vrijwilligers gezocht voor het dorpshuis in Kloosterburen!",
    "De bus tussen Winschoten en Bellingwolde rijdt niet meer. #OostGroningen",
] * 7


def test_to_dict_shape(clf):
    d = clf.classify(TEXTS[0]).to_dict()
    assert list(d) == ["themes", "signals", "municipalities", "regions", "evidence"]
    assert d["themes"] == ["voorzieningen"] and d["signals"] == ["probleem"]
    assert d["municipalities"] == [{"code": "GM1966", "name": "Het Hogeland", "place": "Warffum", "matched": "Warffum"}]
    assert set(d["evidence"][0]) == {"tag", "matched", "start", "end"}


def test_records_are_frozen(clf):
    res = clf.classify(TEXTS[0])
    assert dataclasses.is_dataclass(res) and res.relevant
    for obj in (res, res.evidence[0], res.municipalities[0]):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, dataclasses.fields(obj)[0].name, None)
    assert isinstance(res.municipalities[0], MunicipalityTag) and isinstance(res.evidence[0], Evidence)
    assert not Classification().relevant


def test_records_equal_their_constructors(clf):
    # the classifier makes its records without the dataclass __init__ (core._build): same objects
    res = clf.classify(TEXTS[0])
    again = Classification(res.themes, res.signals,
                           tuple(MunicipalityTag(m.code, m.name, m.place, m.matched, m.start, m.end)
                                 for m in res.municipalities),
                           res.regions, tuple(Evidence(e.tag, e.matched, e.start, e.end) for e in res.evidence))
    assert res == again and hash(res) == hash(again) and repr(res) == repr(again)
    assert type(res.evidence[0]) is Evidence and type(res.municipalities[0]) is MunicipalityTag


def test_version(clf):
    assert re.fullmatch(r"0\.1\.0\+kw[0-9a-f]{8}-gz[0-9a-f]{8}", clf.version)


def test_classify_many_keeps_order(clf):
    one = [clf.classify(t) for t in TEXTS]
    assert list(clf.classify_many(TEXTS, batch_size=4)) == one
    assert list(clf.classify_many(iter(TEXTS), batch_size=3, n_process=2)) == one


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300) | st.lists(st.sampled_from(
    ["in", "Best", "#", "Ee", "Sluis", "dorpshuis", "sluit", "niet", "(", "NH", ")", "gem.", "Rhenen",
     "Vorden-Hengelo", "Bergen", "\n", "😡", "-", "'s-Gravendeel", "Zeeland", "geen ... meer", "bus", "Achterhoek"]),
    max_size=40).map(" ".join))
def test_offsets_always_valid(clf, text):
    res = clf.classify(text)
    for e in res.evidence:
        assert 0 <= e.start < e.end <= len(text)
        assert text[e.start:e.end] == e.matched
    for m in res.municipalities:
        assert text[m.start:m.end] == m.matched
    if not res.themes:
        assert not res.signals
