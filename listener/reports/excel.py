"""Conventions for files that analysts open in Dutch Excel.

CSV: UTF-8 with BOM, ``;`` between fields and a decimal comma (Dutch Excel's own settings;
with ``sep=","`` a decimal point). XLSX: numbers stay numbers. In both, a text cell that
Excel would read as a formula is neutralised.
"""

from __future__ import annotations

import csv
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0 (and so openpyxl) refuses.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def neutralise(value: str) -> str:
    """Prefix a cell that Excel would read as a formula with an apostrophe (CSV injection)."""
    if value and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def csv_cell(value: Any, decimal: str = ",") -> str:
    """One value as CSV text: numbers in the given decimal notation, text neutralised."""
    if _is_missing(value):
        return ""
    if isinstance(value, bool):
        return "ja" if value else "nee"
    if isinstance(value, int) or (hasattr(value, "dtype") and str(getattr(value, "dtype", "")).startswith("int")):
        return str(int(value))
    if isinstance(value, float):
        text = f"{value:.1f}" if value != int(value) else str(int(value))
        return text.replace(".", decimal)
    return neutralise(str(value))


def xlsx_cell(value: Any) -> Any:
    """One value for a workbook cell: numbers as numbers, text neutralised and stripped of illegal characters."""
    if _is_missing(value):
        return None
    if isinstance(value, bool):
        return "ja" if value else "nee"
    if isinstance(value, (int, float)) or hasattr(value, "dtype"):
        return value.item() if hasattr(value, "item") else value
    return neutralise(_XML_ILLEGAL.sub("", str(value)))


def atomic_write(path: Path, write: Any, mode: str = "w", **open_args: Any) -> Path:
    """Write ``path`` through a temporary file in the same directory, then rename over it.

    A symlink planted at ``path`` is replaced, never followed out of the directory.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with open(fd, mode, **open_args) as fh:
            write(fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _csv_column(values: pd.Series, decimal: str) -> list[str]:
    """A column as CSV texts: as ``csv_cell`` per value, with fast paths for whole int and text columns."""
    items = values.tolist()
    if values.dtype.kind in "iu":
        return list(map(str, items))
    if values.dtype.kind == "f" and all(math.isfinite(v) for v in items):
        # as csv_cell: whole numbers without a decimal, others with one decimal in the given notation
        return [str(int(v)) if v == int(v) else f"{v:.1f}".replace(".", decimal) for v in items]
    if items and all(type(v) is str for v in items):
        sep = "\uffff"
        joined = sep + sep.join(items)
        if joined.count(sep) == len(items):
            for start in FORMULA_START:
                joined = joined.replace(sep + start, sep + "'" + start)
            return joined.split(sep)[1:]
    return [csv_cell(v, decimal) for v in items]


def write_csv(df: pd.DataFrame, path: Path, sep: str = ";") -> Path:
    """The table as a CSV for Dutch Excel: BOM, ``sep``, decimal comma with ``;``, neutralised cells."""
    decimal = "," if sep == ";" else "."

    def write(fh: Any) -> None:
        w = csv.writer(fh, delimiter=sep, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        w.writerow([neutralise(str(c)) for c in df.columns])
        for start in range(0, len(df), 5000):  # column by column, in chunks: memory stays flat
            part = df.iloc[start:start + 5000]
            w.writerows(zip(*(_csv_column(part.iloc[:, j], decimal) for j in range(part.shape[1]))))

    return atomic_write(path, write, "w", encoding="utf-8-sig", newline="")


def write_xlsx(sheets: Mapping[str, Any], path: Path) -> Path:
    """One workbook with a sheet per table, written in chunks (memory stays flat for long tables).

    A table may be a function that gives it; see ``xlsx.write``.
    """
    from listener.reports import xlsx

    return atomic_write(path, lambda fh: xlsx.write(sheets, fh), "wb")
