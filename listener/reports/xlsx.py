"""rapport.xlsx written directly as Office Open XML: a zip of a few XML parts, cells as inline strings.

openpyxl (and xlsxwriter) build one Python object per cell; with the 1M-post store the report
has about a million cells and the workbook took longer than everything else together. Here a
whole column is turned into XML text in one pass (texts are joined, cleaned and escaped as one
string), and the rows are written in chunks, so memory stays bounded by the chunk. Cells have
no reference (``r`` is optional in Office Open XML), so an empty value is an empty ``<c/>``. Cell values follow ``excel.xlsx_cell``: numbers stay
numbers, booleans are ja/nee, text is neutralised (no formulas) and stripped of characters
XML 1.0 refuses; a missing value is an empty cell.
"""

from __future__ import annotations

import math
import re
import zipfile
from typing import IO, Any, Callable, Iterator, Mapping

import pandas as pd

from listener.reports.excel import FORMULA_START, xlsx_cell

CHUNK_ROWS = 5000
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "{sheets}</Types>"
)
_SHEET_TYPE = ('<Override PartName="/xl/worksheets/sheet{n}.xml" '
               'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>')
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<styleSheet xmlns="{_NS}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)


def _escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\r", "&#13;") if "\r" in text else text


_EMPTY = "<c/>"  # cells carry no reference: a missing value must still take its place
_STR_OPEN, _STR_CLOSE = '<c t="inlineStr"><is><t xml:space="preserve">', "</t></is></c>"
_SEP = "\uffff"  # joins a column's texts; XML refuses it, so the cleaning below removes it from values
_ILLEGAL = [chr(c) for c in [*range(0, 9), 11, 12, *range(14, 32), 0xFFFE]]
_ILLEGAL_BUT_SEP = re.compile("[" + "".join(_ILLEGAL) + "]")


def _cell(value: Any) -> str:
    """One cell of any value, as ``excel.xlsx_cell`` would store it."""
    v = xlsx_cell(value)
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return _EMPTY
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"<c><v>{v!r}</v></c>"
    return _STR_OPEN + _escape(str(v)) + _STR_CLOSE


def _texts(values: list[str]) -> list[str] | None:
    """Cells of a column of texts, cleaned, neutralised and escaped as one joined string.

    String methods on the joined column run in C; a regular expression over it costs more than
    the rest together, so it only runs when an illegal character is there at all.
    """
    joined = _SEP + _SEP.join(values)
    if joined.count(_SEP) != len(values):
        return None  # a value holds the separator itself: cell by cell instead
    if any(c in joined for c in _ILLEGAL):
        joined = _ILLEGAL_BUT_SEP.sub("", joined)  # as xlsx_cell: strip first, then neutralise
    for start in FORMULA_START:
        joined = joined.replace(_SEP + start, _SEP + "'" + start)
    joined = _escape(joined)
    return (joined.replace(_SEP, _STR_CLOSE + _SEP + _STR_OPEN) + _STR_CLOSE).split(_SEP)[1:]


def _column(values: pd.Series) -> list[str]:
    """The XML of one column's cells; whole columns of numbers or texts without a call per cell."""
    kind = values.dtype.kind
    items = values.tolist()
    if kind in "iu":
        return [f"<c><v>{v}</v></c>" for v in items]
    if kind == "f":
        return [f"<c><v>{v!r}</v></c>" if math.isfinite(v) else _EMPTY for v in items]
    if items and all(type(v) is str for v in items):
        cells = _texts(items)
        if cells is not None:
            return cells
    return [_cell(v) for v in items]


def _sheet(df: pd.DataFrame) -> Iterator[bytes]:
    head = "".join(_cell(str(name)) for name in df.columns)
    yield (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_NS}"><sheetData>'
           f'<row r="1">{head}</row>').encode("utf-8")
    for start in range(0, len(df), CHUNK_ROWS):
        part = df.iloc[start:start + CHUNK_ROWS]
        columns = [_column(part.iloc[:, j]) for j in range(part.shape[1])]
        yield "".join(f'<row r="{r}">{"".join(cells)}</row>'
                      for r, *cells in zip(range(start + 2, start + 2 + len(part)), *columns)).encode("utf-8")
    yield b"</sheetData></worksheet>"


def write(sheets: Mapping[str, pd.DataFrame | Callable[[], pd.DataFrame]], fh: IO[bytes]) -> None:
    """The workbook into a binary file object: one sheet per table, in order.

    A table may also be a function that gives it: those sheets are written last, so a caller
    can start on the long tables before the others are ready (the order of the sheets in the
    workbook stays the order of ``sheets``).
    """
    names = [_escape(name[:31]).replace('"', "&quot;") for name in sheets]
    # Level 1: the XML compresses nearly as well and several times faster than the default 6.
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml",
                    _CONTENT_TYPES.format(sheets="".join(_SHEET_TYPE.format(n=n) for n in range(1, len(names) + 1))))
        zf.writestr("_rels/.rels", _ROOT_RELS)
        zf.writestr("xl/workbook.xml",
                    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    f'<workbook xmlns="{_NS}" xmlns:r="{_REL}"><sheets>'
                    + "".join(f'<sheet name="{name}" sheetId="{n}" r:id="rId{n}"/>' for n, name in enumerate(names, 1))
                    + "</sheets></workbook>")
        zf.writestr("xl/_rels/workbook.xml.rels",
                    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                    + "".join(f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
                              for n in range(1, len(names) + 1))
                    + f'<Relationship Id="rId{len(names) + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
                    + "</Relationships>")
        zf.writestr("xl/styles.xml", _STYLES)
        tables = list(sheets.values())
        for n in sorted(range(1, len(tables) + 1), key=lambda n: callable(tables[n - 1])):
            df = tables[n - 1]() if callable(tables[n - 1]) else tables[n - 1]
            with zf.open(f"xl/worksheets/sheet{n}.xml", "w") as out:
                for chunk in _sheet(df):
                    out.write(chunk)
