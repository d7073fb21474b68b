"""rapport.html: one self-contained page (inline CSS, charts as base64 PNG). All text is escaped."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from html import escape
from typing import Any

import pandas as pd

CSS = """
body{font-family:Arial,Helvetica,sans-serif;margin:24px;color:#1a1a1a;max-width:1150px}
h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:28px;border-bottom:2px solid #c0392b;padding-bottom:4px}
.sub{color:#555;margin-top:0}.dekking{background:#fff6e0;border:1px solid #e0b040;padding:10px 14px;border-radius:4px}
.cijfers{display:flex;gap:14px;flex-wrap:wrap}.cijfer{background:#f3f3f3;border-radius:6px;padding:10px 16px;min-width:150px}
.cijfer b{display:block;font-size:26px}table{border-collapse:collapse;width:100%;font-size:13px;margin-top:8px}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}th{background:#eee}
td.n{text-align:right}img{max-width:100%;border:1px solid #eee}.leeg{color:#777;font-style:italic}
.mislukt,.overgeslagen,.uitgesteld,.deels{background:#fde2e0}
"""


@dataclass
class Page:
    week: str
    period: str
    coverage_text: str
    coverage: pd.DataFrame
    headline: list[tuple[str, str]]
    trend_png: bytes
    heatmap_png: bytes
    initiatives: pd.DataFrame
    rises: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _e(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return escape(str(value), quote=True)


def _table(df: pd.DataFrame, columns: list[str], numeric: tuple[str, ...] = (), empty: str = "geen",
           row_class: str | None = None) -> str:
    if df.empty:
        return f'<p class="leeg">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = []
    for _, r in df.iterrows():
        cls = f' class="{_e(str(r[row_class]).split()[0])}"' if row_class else ""
        cells = "".join(f'<td class="n">{_e(r[c])}</td>' if c in numeric else f"<td>{_e(r[c])}</td>" for c in columns)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def render(page: Page) -> str:
    """The whole page as one HTML string (no external resources: it opens without a network)."""
    cijfers = "".join(f'<div class="cijfer">{_e(label)}<b>{_e(value)}</b></div>' for label, value in page.headline)
    initiatives = page.initiatives.assign(tekst=page.initiatives["tekst"].map(lambda t: t if len(t) <= 400 else t[:400] + "…")) \
        if not page.initiatives.empty else page.initiatives
    notes = "".join(f"<li>{_e(n)}</li>" for n in page.notes)
    return f"""<!DOCTYPE html>
<html lang="nl"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>Weekrapport {_e(page.week)}</title><style>{CSS}</style></head><body>
<h1>Weekrapport leefbaarheid {_e(page.week)}</h1>
<p class="sub">{_e(page.period)}</p>
<h2>Dekking: welke bronnen deze week meededen</h2>
<div class="dekking"><p>{_e(page.coverage_text)}</p>
{_table(page.coverage, ["bron", "soort", "status", "reden", "gelukt", "mislukt", "nieuw", "berichten_deze_week"],
        numeric=("gelukt", "mislukt", "nieuw", "berichten_deze_week"), empty="geen bronnen bekend", row_class="status")}
</div>
<h2>Kerncijfers</h2>
<div class="cijfers">{cijfers}</div>
<h2>Thema's over de laatste 12 weken</h2>
{_img(page.trend_png, "Unieke berichten per thema per week")}
<h2>Gemeente × thema deze week</h2>
{_img(page.heatmap_png, "Heatmap van unieke berichten per gemeente en thema")}
<h2>Nieuwe initiatieven</h2>
{_table(initiatives, ["datum", "gemeente", "plaats", "themas", "tekst", "link"], empty="geen initiatieven deze week")}
<h2>Grootste stijgers ten opzichte van vorige week</h2>
{_table(page.rises, ["soort", "gebied", "plaats", "thema", "berichten", "vorige_week", "verschil_vorige_week"],
        numeric=("berichten", "vorige_week", "verschil_vorige_week"), empty="geen stijgers deze week")}
<h2>Over dit rapport</h2><ul>{notes}</ul>
</body></html>
"""
