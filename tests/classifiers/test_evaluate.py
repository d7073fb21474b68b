"""Quality gate: scores on our own labelled posts (tests/classifiers/labelled_posts.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifiers.evaluate import PRF, evaluate, load_labelled
from listener.errors import InputError

LABELLED = Path(__file__).resolve().parent / "labelled_posts.jsonl"


@pytest.fixture(scope="module")
def reports(clf):
    return evaluate(LABELLED, clf, baselines=True)


def test_labelled_set_is_large_and_valid():
    records = load_labelled(LABELLED)
    assert len(records) >= 150
    assert sum(1 for r in records if not r["themes"]) >= 40  # distractors


def test_quality_targets(reports):
    s = reports[0].summary()
    assert s["theme_macro_f1"] >= 0.90, s
    assert s["signal_micro_f1"] >= 0.85, s
    assert s["municipality_f1"] >= 0.95, s
    assert s["municipality_precision"] >= 0.97, s
    assert s["region_f1"] >= 0.90, s


def test_beats_baselines(reports):
    ours, base = reports[0].summary(), reports[1].summary()
    assert ours["theme_macro_f1"] > base["theme_macro_f1"]
    assert ours["signal_micro_f1"] > base["signal_micro_f1"]
    assert ours["municipality_precision"] > base["municipality_precision"]


def test_errors_are_in_label_format(reports):
    for err in reports[0].errors:
        assert {"text", "themes", "signals", "municipalities", "regions", "expected", "note"} <= set(err)


def test_prf():
    p = PRF(8, 2, 2)
    assert (p.precision, p.recall, round(p.f1, 3)) == (0.8, 0.8, 0.8)
    assert PRF(0, 0, 0).f1 == 1.0


def test_bad_labelled_file(tmp_path):
    p = tmp_path / "l.jsonl"
    p.write_text(json.dumps({"text": "a"}) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"l.jsonl:2: not valid JSON"):
        load_labelled(p)
