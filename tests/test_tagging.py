"""Classifications turned into ``post_tags`` rows."""

from __future__ import annotations

from classifiers import Classification, Evidence, MunicipalityTag
from listener.tagging import tag_rows


C = Classification(
    themes=("voorzieningen", "onderwijs"), signals=("probleem",),
    municipalities=(MunicipalityTag("GM0014", "Groningen", "Haren", "Haren", 20, 25),),
    regions=("Noord",),
    evidence=(Evidence("voorzieningen", "pinautomaat", 4, 15), Evidence("voorzieningen", "pinautomaat", 40, 51),
              Evidence("voorzieningen", "Geldmaat", 60, 68), Evidence("probleem", "verdwijnt", 16, 25),
              Evidence("GM0014", "Haren", 20, 25)),
)


def test_tag_rows() -> None:
    rows = tag_rows(C, "v1")
    columns = ["kind", "tag", "label", "place", "matched", "evidence", "classifier_version"]
    assert [list(r) for r in rows] == [columns] * 5
    theme, school, signal, muni, region = rows
    assert theme["matched"] == "pinautomaat; Geldmaat" and len(theme["evidence"]) == 3
    assert school["matched"] is None and school["evidence"] is None  # a tag without evidence
    assert signal["evidence"] == [{"matched": "verdwijnt", "start": 16, "end": 25}]
    assert muni == {"kind": "municipality", "tag": "GM0014", "label": "Groningen", "place": "Haren",
                    "matched": "Haren", "evidence": [{"matched": "Haren", "start": 20, "end": 25}],
                    "classifier_version": "v1"}
    assert region["tag"] == "Noord" and region["evidence"] is None and region["classifier_version"] == "v1"


def test_tag_rows_empty() -> None:
    assert tag_rows(Classification(), "v1") == ()
