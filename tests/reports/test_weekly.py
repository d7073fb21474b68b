"""The weekly report on the golden store: exact CSVs, XLSX = CSV, weekly_counts, filters, HTML."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select

from listener.cli import main
from listener.errors import ConfigError
from listener.reports.weekly import write_weekly_report
from listener.reports.weeks import last_complete_week, parse_week
from listener.store.db import session_scope
from listener.store.models import AuditEntry, Post, WeeklyCount

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reports"
TABLES = ("overzicht", "berichten", "initiatieven", "dekking")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep=";", encoding="utf-8-sig", decimal=",", dtype=str, keep_default_na=False)


def test_golden_csvs_exact(golden, tmp_path: Path) -> None:
    _, factory = golden
    paths = write_weekly_report(factory, "2026-W47", tmp_path / "out")
    names = {p.name for p in paths}
    assert {"overzicht.csv", "berichten.csv", "initiatieven.csv", "dekking.csv", "rapport.html", "rapport.xlsx",
            "themas_12_weken.png", "heatmap_gemeente_thema.png"} == names
    for name in TABLES:
        got = (tmp_path / "out" / f"{name}.csv").read_bytes()
        assert got.startswith(b"\xef\xbb\xbf"), name
        want = (FIXTURES / f"expected_{name}.csv").read_bytes()
        assert got.decode("utf-8-sig").splitlines() == want.decode("utf-8-sig").splitlines(), name


def test_csv_reads_back_like_xlsx_and_formulas_are_neutralised(golden, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    _, factory = golden
    write_weekly_report(factory, "2026-W47", tmp_path)
    wb = load_workbook(tmp_path / "rapport.xlsx", read_only=True)
    assert wb.sheetnames == ["Overzicht", "Berichten", "Initiatieven", "Dekking"]
    for name, sheet in zip(TABLES, wb.sheetnames):
        csv_df = _read(tmp_path / f"{name}.csv")
        rows = list(wb[sheet].iter_rows(values_only=True))
        xlsx_df = pd.DataFrame([["" if v is None else (str(v).replace(".", ",") if isinstance(v, float) else str(v))
                                 for v in r] for r in rows[1:]], columns=list(rows[0]), dtype=str)
        csv_df = csv_df.map(lambda v: v.replace(".", ",") if v.replace(".", "").replace("-", "").isdigit() else v)
        xlsx_df = xlsx_df.map(lambda v: v[:-2] if v.endswith(",0") and v[:-2].lstrip("-").isdigit() else v)
        pd.testing.assert_frame_equal(csv_df, xlsx_df, check_dtype=False)
        for col in csv_df.columns:
            for v in csv_df[col]:
                assert not (v[:1] in ("=", "+", "@", "\t", "\r") or (v.startswith("-") and not _number(v))), (name, v)
    texts = set(_read(tmp_path / "berichten.csv")["tekst"])
    assert any(t.startswith("'=HYPERLINK(") for t in texts)
    assert any(t.startswith("'+31 ") for t in texts)
    assert any(t.startswith("'-- Carpoolen") for t in texts)
    assert any(t.startswith("'@gebruiker") for t in texts)
    xl_texts = {r[8] for r in wb["Berichten"].iter_rows(min_row=2, values_only=True)}
    assert "'=HYPERLINK(" in "".join(xl_texts)
    # openpyxl stores a cell starting with '=' as a formula: none may be in the workbook.
    for sheet in wb.sheetnames:
        for row in wb[sheet].iter_rows(values_only=True):
            assert not any(isinstance(v, str) and v.startswith("=") for v in row)


def _number(v: str) -> bool:
    try:
        float(v.replace(",", "."))
        return True
    except ValueError:
        return False


def test_separator_comma_uses_decimal_point(golden_sqlite, tmp_path: Path) -> None:
    _, factory = golden_sqlite
    write_weekly_report(factory, "2026-W47", tmp_path, sep=",", xlsx=False)
    df = pd.read_csv(tmp_path / "overzicht.csv", sep=",", encoding="utf-8-sig", keep_default_na=False)
    emmen = df[(df["code"] == "GM0114") & (df["plaats"] == "") & (df["thema"] == "alle thema's")].iloc[0]
    assert emmen["gemiddelde_4_weken"] == 1.3 and emmen["berichten"] == 3
    assert not (tmp_path / "rapport.xlsx").exists()


def test_min_count_suppresses_small_cells(golden_sqlite, tmp_path: Path) -> None:
    _, factory = golden_sqlite
    write_weekly_report(factory, "2026-W47", tmp_path, min_count=3)
    df = _read(tmp_path / "overzicht.csv")
    emmen = df[(df["code"] == "GM0114") & (df["plaats"] == "") & (df["thema"] == "mobiliteit")].iloc[0]
    assert (emmen["berichten"], emmen["vorige_week"], emmen["probleem"], emmen["initiatief"]) == ("3", "<3", "<3", "<3")
    assert emmen["verschil_vorige_week"] == ""
    berkelland = df[(df["code"] == "GM1859") & (df["plaats"] == "")].iloc[0]
    assert berkelland["berichten"] == "<3"
    assert "0" in set(df["vorige_week"])  # zero is not a small number
    html = (tmp_path / "rapport.html").read_text(encoding="utf-8")
    assert "&lt;3" in html


def test_gemeente_filter_by_name_and_code(golden, tmp_path: Path) -> None:
    _, factory = golden
    write_weekly_report(factory, "2026-W47", tmp_path / "a", gemeenten=["Emmen"])
    write_weekly_report(factory, "2026-W47", tmp_path / "b", gemeenten=["gm0114"])
    for d in ("a", "b"):
        ov = _read(tmp_path / d / "overzicht.csv")
        assert set(ov["code"]) == {"GM0114"} and set(ov["soort"]) == {"gemeente"}
        assert set(ov["plaats"]) == {"", "Klazienaveen"}
        ber = _read(tmp_path / d / "berichten.csv")
        assert len(ber) == 3 and all("Emmen" in g for g in ber["gemeente"])
    with pytest.raises(ConfigError, match="unknown or ambiguous municipality"):
        write_weekly_report(factory, "2026-W47", tmp_path / "c", gemeenten=["../../etc/passwd"])
    assert not (tmp_path / "c" / "overzicht.csv").exists()


def test_weekly_counts_survive_retention(golden, tmp_path: Path) -> None:
    _, factory = golden
    write_weekly_report(factory, "2026-W47", tmp_path / "first")
    with session_scope(factory) as s:
        weeks = set(s.scalars(select(WeeklyCount.week).distinct()))
        assert {"2026-W47", "2026-W46", "2026-W42"} <= weeks
        n47 = s.scalar(select(WeeklyCount.n_posts).where(WeeklyCount.week == "2026-W47", WeeklyCount.area_kind == "all",
                                                         WeeklyCount.theme == ""))
        assert n47 == 8
        # Retention purges the posts of W41–W46; the aggregates stay.
        s.execute(delete(Post).where(func.coalesce(Post.created_at, Post.collected_at) < parse_week("2026-W47").start))
    write_weekly_report(factory, "2026-W47", tmp_path / "again")
    assert (tmp_path / "first" / "overzicht.csv").read_bytes() == (tmp_path / "again" / "overzicht.csv").read_bytes()
    write_weekly_report(factory, "2026-W46", tmp_path / "w46")
    ov = _read(tmp_path / "w46" / "overzicht.csv")
    total = ov[(ov["soort"] == "totaal") & (ov["thema"] == "alle thema's")].iloc[0]
    assert total["berichten"] == "3"


def test_audit_entry_and_reruns_are_idempotent(golden, tmp_path: Path) -> None:
    _, factory = golden
    write_weekly_report(factory, "2026-W47", tmp_path)
    write_weekly_report(factory, "2026-W47", tmp_path)
    with session_scope(factory) as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.command == "report")))
        assert len(entries) == 2 and entries[0].filters["week"] == "2026-W47" and entries[0].rows == 8
        dup = s.execute(select(WeeklyCount.week, WeeklyCount.area_kind, WeeklyCount.area, WeeklyCount.place,
                               WeeklyCount.theme, func.count()).group_by(WeeklyCount.week, WeeklyCount.area_kind,
                               WeeklyCount.area, WeeklyCount.place, WeeklyCount.theme).having(func.count() > 1)).all()
        assert dup == []


def test_html_is_self_contained_and_escaped(golden_sqlite, tmp_path: Path) -> None:
    _, factory = golden_sqlite
    write_weekly_report(factory, "2026-W47", tmp_path)
    html = (tmp_path / "rapport.html").read_text(encoding="utf-8")
    assert "<script>" not in html and 'src="http' not in html and "href=" not in html
    assert html.count("data:image/png;base64,") == 2
    assert "niet gedraaid" in html and "https://***@example.org" in html and "geheim" not in html
    assert "Dekking" in html.split("Kerncijfers")[0]  # coverage comes first
    for png in ("themas_12_weken.png", "heatmap_gemeente_thema.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_renders_in_headless_chromium(golden_sqlite, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if IN_CI:
            pytest.fail("chromium is required under CI=true (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    import matplotlib.image as mpimg
    import numpy as np

    _, factory = golden_sqlite
    write_weekly_report(factory, "2026-W47", tmp_path, xlsx=False)
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,2000",
                    (tmp_path / "rapport.html").as_uri()], capture_output=True, timeout=90, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    img = mpimg.imread(str(shot))
    pixels = img.reshape(-1, img.shape[-1])[:, :3]
    assert len(np.unique((pixels * 255).astype(np.uint8), axis=0)) > 50  # text, tables and charts, not a blank page
    assert pixels.std() > 0.05


def test_cli_report_default_week_and_errors(golden, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    res = runner.invoke(main, ["--db", db_url, "report", "--no-xlsx"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "reports" / last_complete_week().label / "overzicht.csv").exists()
    res = runner.invoke(main, ["--db", db_url, "report", "--week", "2026-W47", "--gemeente", "Atlantis", "--out", "x"])
    assert res.exit_code == 2 and "Atlantis" in res.output and len(res.output.strip().splitlines()) == 1
    res = runner.invoke(main, ["--db", db_url, "report", "--week", "2026-47"])
    assert res.exit_code == 2 and "ISO week" in res.output
    res = runner.invoke(main, ["--db", db_url, "report", "--week", "2026-W47", "--out", "w47", "--min-count", "2"])
    assert res.exit_code == 0 and "Written: w47/rapport.xlsx" in res.output


def test_symlink_in_output_dir_is_replaced_not_followed(golden_sqlite, tmp_path: Path) -> None:
    _, factory = golden_sqlite
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "overzicht.csv").symlink_to(outside)
    write_weekly_report(factory, "2026-W47", out, xlsx=False)
    assert outside.read_text() == "keep me"
    assert not (out / "overzicht.csv").is_symlink()


def test_html_render_escapes_hostile_post_text() -> None:
    from listener.reports import html as page_html

    hostile = "<script>alert('x')</script><img src=x onerror=alert(1)> \"' & =HYPERLINK(\"http://evil\")"
    df = pd.DataFrame([{"datum": "2026-11-17", "gemeente": "<b>Emmen</b>", "plaats": "", "themas": "mobiliteit",
                        "tekst": hostile, "link": "javascript:alert(1)"}])
    page = page_html.Page(week="2026-W47", period="<i>p</i>", coverage_text="<u>c</u>",
                          coverage=pd.DataFrame(columns=["bron", "soort", "status", "reden", "gelukt", "mislukt", "nieuw",
                                                         "berichten_deze_week"]),
                          headline=[("<x>", "<y>")], trend_png=b"png", heatmap_png=b"png", initiatives=df,
                          rises=pd.DataFrame(), notes=["<n>"])
    out = page_html.render(page)
    for raw in ("<script>", "<img src=x", "<b>Emmen", "<i>p", "<u>c", "<x>", "<n>", "onerror=alert(1)>"):
        assert raw not in out
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in out and "&lt;b&gt;Emmen&lt;/b&gt;" in out


def test_ensure_weekly_counts_for_retention(golden_sqlite) -> None:  # noqa: ANN001
    from listener.reports.weekly import ensure_weekly_counts

    _, factory = golden_sqlite
    with session_scope(factory) as s:
        assert ensure_weekly_counts(s, ["2026-W46"]) > 0
        total = s.scalar(select(WeeklyCount.n_posts).where(WeeklyCount.week == "2026-W46",
                                                           WeeklyCount.area_kind == "all", WeeklyCount.theme == ""))
        assert total == 3
        assert ensure_weekly_counts(s, ["2026-W46"]) == 0  # nothing new: nothing written
