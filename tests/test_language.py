"""Language detection from function words, and its fast paths (ASCII text, lower-casing once)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listener import language
from listener.language import _FY_MARK, _SHARED, _STOP, _WORDS, detect, keep


def reference_detect(text: str) -> str | None:
    """detect() as first written: every word lower-cased on its own, every list tried, IGNORECASE."""
    words = [w.lower() for w in _WORDS.findall(text)]
    if not words:
        return None
    scores = {lang: 0.0 for lang in _STOP}
    for w in words:
        for lang, stop in _STOP.items():
            if w in stop:
                scores[lang] += 0.5 if w in _SHARED else 1.0
    scores["fy"] += 1.5 * len(_FY_MARK.findall(text))
    best = max(scores, key=scores.get)  # type: ignore[arg-type]
    ranked = sorted(scores.values(), reverse=True)
    if ranked[0] < 2 or ranked[0] < 0.08 * len(words):
        return None
    if ranked[0] - ranked[1] < 1 and best != "nl" and scores["nl"] == ranked[1]:
        return "nl"
    return best


@pytest.mark.parametrize("text,expected", [
    ("De school in het dorp gaat dicht, en dat is niet goed voor ons", "nl"),
    ("Ik bin hjir yn it doarp en it is net goed foar de mienskip", "fy"),
    ("IK BIN HJIR YN IT DOARP EN IT IS NET GOED", "fy"),  # ASCII path: lower-cased once
    ("Ús doarpshûs is ticht, wy binne net bliid", "fy"),  # non-ASCII path: [âêûôú] marks count
    ("The school in the village will close and they are not happy", "en"),
    ("Die Schule im Dorf wird geschlossen und wir sind nicht froh", "de"),
    ("L'école du village va fermer et nous ne sommes pas contents", "fr"),
    ("Pinautomaat weg", None),  # too few words decide
    ("", None),
    ("12345 !!! 😀", None),
])
def test_detect(text: str, expected: str | None) -> None:
    assert detect(text) == expected == reference_detect(text)


@pytest.mark.parametrize("text", [
    # Characters whose lower case is longer (İ → i̇) or depends on what follows (Σ → σ/ς): the
    # words must be lower-cased one by one, not the text at once.
    "İk bin hjir yn it doarp, İT İS net sa",
    "ΑΣ''Β het dorp ΣΟΦΙΑ de school is dicht ΟΔΟΣ",
    "De school in het dorp İstanbul gaat dicht en dat is niet goed",
    # IGNORECASE equivalents of ASCII letters: ſ ~ s, K (Kelvin) ~ k, ı ~ i: not the ASCII path.
    "ſkoalle yn it doarp, iK bin hjir net, ıt is net goed, wy binne",
    "café in het dorp is dicht, dat is niet goed voor de mensen 😢",
])
def test_detect_non_ascii_paths_agree_with_the_reference(text: str) -> None:
    assert not text.isascii()
    assert detect(text) == reference_detect(text)


def test_lower_case_exceptions_are_complete() -> None:
    # _LOWER_CONTEXT must hold every character for which lower-casing the text at once gives
    # other words than lower-casing each word (CPython: only final sigma depends on context).
    letter = re.compile(r"[^\W\d_]")
    changed = []
    for cp in range(0x110000):
        c = chr(cp)
        low = c.lower()
        if low != c and (len(low) != 1 or bool(letter.match(c)) != bool(letter.match(low))
                         or (c in "'’") != (low in "'’")):
            changed.append(c)
    assert set(changed) <= set(language._LOWER_CONTEXT)
    assert "ΑΣ''Β".lower() == "ασ''β" and "ΑΣ".lower() == "ας"  # why Σ is there: the word "ΑΣ" ends in ς


WORDS = st.sampled_from(sorted(frozenset().union(*_STOP.values())) + [
    "ik bin", "it is", "fan 'e", "yn 'e", "NET", "Hjir", "doarpen", "ús", "Ús", "İ", "Σ", "ſ", "K", "ı", "İT",
    "dorp", "school", "42", "x_y", "'", "’", "!", "😀", "É", "Straße",
])
TEXTS = st.lists(st.one_of(WORDS, st.text(max_size=6)), max_size=40).map(" ".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_detect_agrees_with_the_reference(text: str) -> None:
    assert detect(text) == reference_detect(text)


def test_keep() -> None:
    assert keep("nl", ["nl", "fy"]) and keep(None, ["nl"]) and keep("en", [])
    assert not keep("en", ["nl", "fy"])
