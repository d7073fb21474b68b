"""Refresh gemeenten.tsv from CBS open data (OData v3 'Gebieden in Nederland' table)."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx

from classifiers.gazetteer import load_gazetteer
from listener.errors import ConfigError, InputError, SourceError

log = logging.getLogger(__name__)
# "Gebieden in Nederland" is published per year; the table id changes with it. Override with --url
# or $LISTENER_CBS_URL after checking https://opendata.cbs.nl/ODataApi/ for the newest table.
DEFAULT_URL = "https://opendata.cbs.nl/ODataApi/odata/85385NED/TypedDataSet"
_GM = re.compile(r"^GM\d{4}$")
_PV = re.compile(r"^PV\d{2}$")
_FIELD = re.compile(r"^(Code|Naam)_(\d+)$")
_PROVINCE_FIX = {"Friesland": "Fryslân", "Fryslân (Friesland)": "Fryslân"}


@dataclass(slots=True)
class UpdateReport:
    """What an update changes in gemeenten.tsv."""

    rows: list[tuple[str, str, str]]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    written: bool = False

    @property
    def changed(self) -> bool:
        """True when the municipal list differs from the current one."""
        return bool(self.added or self.removed or self.renamed)


def fetch(url: str = DEFAULT_URL, client: httpx.Client | None = None) -> list[dict]:
    """All rows of an OData v3 table, following odata.nextLink pages."""
    own = client is None
    client = client or httpx.Client(timeout=30.0, follow_redirects=True)
    rows: list[dict] = []
    try:
        next_url: str | None = url
        while next_url:
            try:
                resp = client.get(next_url, headers={"Accept": "application/json"})
                resp.raise_for_status()
                payload = resp.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise SourceError(f"CBS open data: {next_url}: {exc}") from exc
            rows.extend(payload.get("value", []))
            next_url = payload.get("odata.nextLink") or payload.get("@odata.nextLink")
    finally:
        if own:
            client.close()
    return rows


def parse(rows: list[dict]) -> list[tuple[str, str, str]]:
    """(code, name, province) per municipality, finding the columns by their content."""
    if not rows:
        raise InputError("CBS response holds no rows")
    sample = rows[0]
    code_col = prov_col = None
    for key, value in sample.items():
        m = _FIELD.match(key)
        if not m or m.group(1) != "Code" or not isinstance(value, str):
            continue
        if _GM.match(value.strip()) and code_col is None:
            code_col = int(m.group(2))
        elif _PV.match(value.strip()) and prov_col is None:
            prov_col = int(m.group(2))
    if code_col is None or prov_col is None:
        raise InputError("CBS response: no column with GMxxxx codes and PVxx province codes found")
    name_key, prov_key, code_key = f"Naam_{code_col + 1}", f"Naam_{prov_col + 1}", f"Code_{code_col}"
    out = {}
    for row in rows:
        code = str(row.get(code_key) or "").strip()
        if not _GM.match(code):
            continue
        name = str(row.get(name_key) or "").strip()
        province = str(row.get(prov_key) or "").strip()
        out[code] = (code, name, _PROVINCE_FIX.get(province, province))
    return sorted(out.values())


def update(gazetteer_dir: Path, *, url: str = DEFAULT_URL, from_file: Path | None = None,
           dry_run: bool = False, client: httpx.Client | None = None) -> UpdateReport:
    """Compare CBS's list with gemeenten.tsv and (unless dry_run) rewrite the file."""
    if from_file:
        try:
            payload = json.loads(Path(from_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{from_file}: cannot read recorded CBS response: {exc}") from exc
        rows = payload.get("value", []) if isinstance(payload, dict) else payload
        source = str(from_file)
    else:
        rows = fetch(url, client)
        source = url
    new = parse(rows)
    current = load_gazetteer(gazetteer_dir).municipalities
    report = UpdateReport(new)
    new_codes = {c for c, _, _ in new}
    for code, name, _ in new:
        if code not in current:
            report.added.append(f"{code} {name}")
        elif current[code].name != name:
            report.renamed.append(f"{code} {current[code].name} → {name}")
    report.removed = [f"{c} {m.name}" for c, m in sorted(current.items()) if c not in new_codes]
    if report.removed:
        log.warning("municipalities removed by CBS: %s; map them in aliassen.tsv (voormalig) and "
                    "move their woonplaatsen in woonplaatsen.tsv", ", ".join(report.removed))
    if dry_run or not report.changed:
        return report
    target = Path(gazetteer_dir) / "gemeenten.tsv"
    if not target.parent.is_dir():
        raise ConfigError(f"{target.parent}: gazetteer directory does not exist")
    lines = [f"# Generated by `listener gazetteer update` on {date.today().isoformat()} from {source} "
             "(CBS open data, CC BY 4.0).\n", "code\tname\tprovince\n"]
    lines += [f"{c}\t{n}\t{p}\n" for c, n, p in new]
    target.write_text("".join(lines), encoding="utf-8")
    report.written = True
    return report
