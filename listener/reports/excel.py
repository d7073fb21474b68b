"""Conventions for files that analysts open in Dutch Excel."""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """Prefix a cell that Excel would read as a formula with an apostrophe (CSV injection)."""
    if value and value.startswith(FORMULA_START):
        return "'" + value
    return value
