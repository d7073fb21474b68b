"""The offline demo runs the whole pipeline on the bundled samples (CI also runs `make demo`)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from listener.cli import main


def test_demo_runs_twice_and_recognises_seen_posts(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    first = CliRunner().invoke(main, ["demo", "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert "Sources read: 5" in first.output
    assert "Same item in two feeds: 2" in first.output
    assert (out / "listener.db").exists()
    # The analysts' weekly report, written from what the demo stored.
    [week_dir] = (out / "reports").iterdir()
    assert f"Weekly report {week_dir.name}" in first.output
    for name in ("overzicht.csv", "berichten.csv", "initiatieven.csv", "dekking.csv", "rapport.html", "rapport.xlsx"):
        assert (week_dir / name).stat().st_size > 0, name
    berichten = (week_dir / "berichten.csv").read_text(encoding="utf-8-sig")
    assert berichten.count("\n") > 2  # a header and posts of that week
    second = CliRunner().invoke(main, ["demo", "--out", str(out)])
    assert second.exit_code == 0, second.output
    assert " 0 new" in second.output and "seen before" in second.output
    # Masking happened on the way in: no e-mail address or 06 number of the samples is stored.
    raw = b"".join(p.read_bytes() for p in out.glob("listener.db*"))
    assert b"buurtbus.meeden@example.org" not in raw and b"06-12345678" not in raw
