"""Shared fixtures: one real classifier per session (building it takes a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


@pytest.fixture(scope="session")
def clf():
    from classifiers import Classifier

    return Classifier(REPO / "keywords_nl.txt")


@pytest.fixture(scope="session")
def tag(clf):
    """classify() shortcut returning a plain dict of label lists."""

    def run(text: str) -> dict:
        c = clf.classify(text)
        return {"themes": set(c.themes), "signals": set(c.signals),
                "municipalities": {m.name for m in c.municipalities}, "regions": set(c.regions)}

    return run


@pytest.fixture()
def fixtures_dir() -> Path:
    return HERE / "fixtures"
