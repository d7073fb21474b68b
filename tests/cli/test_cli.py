"""The command line: every command has --help with an example; errors are one line + exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from listener.cli import main


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        path = prefix + (name,)
        out.append(path)
        if isinstance(cmd, click.Group):
            out.extend(_all_commands(cmd, path))
    return out


COMMANDS = _all_commands(main)


def test_core_commands_exist() -> None:
    names = {c[0] for c in COMMANDS}
    assert {"db", "sources", "run", "export", "demo"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_every_command_has_help_with_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`listener {' '.join(path)} --help` shows no example"


def test_python_dash_m_works() -> None:
    out = subprocess.run([sys.executable, "-m", "listener", "--help"], capture_output=True, text=True, check=True)
    assert "Commands:" in out.stdout


def _feed(tmp_path: Path) -> Path:
    (tmp_path / "feed.xml").write_text(
        """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
        <item><title>De bibliotheek in Ulrum gaat dicht</title><guid>a1</guid>
        <pubDate>Mon, 23 Nov 2026 10:00:00 +0100</pubDate><description>Het dorp is boos over de sluiting.</description></item>
        </channel></rss>""", encoding="utf-8")
    cfg = tmp_path / "sources.yaml"
    cfg.write_text("sources:\n  - id: dorp\n    kind: rss\n    url: feed.xml\n", encoding="utf-8")
    return cfg


def test_run_export_round_trip(tmp_path: Path, db_url: str) -> None:
    cfg = _feed(tmp_path)
    r = CliRunner().invoke(main, ["--db", db_url, "--sources", str(cfg), "run", "--once"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "out.jsonl"
    r = CliRunner().invoke(main, ["--db", db_url, "export", "--since", "2026-11-01", "-o", str(out)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 1
    row = rows[0]
    for key in ("text", "themes", "signals", "municipalities", "regions", "evidence",
                "platform", "source", "external_id", "url", "created_at"):
        assert key in row
    assert row["source"] == "dorp" and row["external_id"] == "a1"
    assert "author_key" not in row
    # --until before the post: nothing.
    r = CliRunner().invoke(main, ["--db", db_url, "export", "--until", "2026-11-01"])
    assert r.exit_code == 0 and r.output.strip() == ""


def test_export_csv(tmp_path: Path) -> None:
    cfg = _feed(tmp_path)
    db = f"sqlite:///{tmp_path / 'l.db'}"
    CliRunner().invoke(main, ["--db", db, "--sources", str(cfg), "run", "--once"])
    r = CliRunner().invoke(main, ["--db", db, "export", "--format", "csv"])
    assert r.exit_code == 0
    assert r.output.splitlines()[0].startswith("id,platform,source,external_id")


def test_bad_date_is_one_line_exit_2(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["--db", f"sqlite:///{tmp_path / 'l.db'}", "export", "--since", "gisteren"])
    assert r.exit_code == 2
    assert r.output.strip() == "listener: --since: not a date: 'gisteren' (use YYYY-MM-DD)"


def test_unreachable_database_exit_1(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["--db", "postgresql://nobody@127.0.0.1:1/x", "export"])
    assert r.exit_code == 1
    assert "unreachable" in r.output and "Traceback" not in r.output


def test_bad_db_url_exit_2() -> None:
    r = CliRunner().invoke(main, ["--db", "mysql://x/y", "db", "current"])
    assert r.exit_code == 2
    assert "unsupported database" in r.output


def test_db_upgrade_and_current(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'l.db'}"
    r = CliRunner().invoke(main, ["--db", db, "db", "upgrade"])
    assert r.exit_code == 0 and "empty →" in r.output
    r = CliRunner().invoke(main, ["--db", db, "db", "current"])
    assert "up to date" in r.output


def test_run_exit_3_when_a_source_fails(tmp_path: Path) -> None:
    cfg = _feed(tmp_path)
    cfg.write_text(cfg.read_text() + "  - id: weg\n    kind: rss\n    url: bestaat-niet.xml\n")
    r = CliRunner().invoke(main, ["--db", f"sqlite:///{tmp_path / 'l.db'}", "--sources", str(cfg), "run", "--once"])
    assert r.exit_code == 3


def test_run_unknown_source_id_exit_2(tmp_path: Path) -> None:
    cfg = _feed(tmp_path)
    r = CliRunner().invoke(main, ["--db", f"sqlite:///{tmp_path / 'l.db'}", "--sources", str(cfg),
                                  "run", "--once", "--source", "nope"])
    assert r.exit_code == 2 and "no source with id 'nope'" in r.output


def test_version_says_whether_the_classifier_runs_compiled():
    import classifiers

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("listener, version ")
    assert ("compiled with Cython" if classifiers.compiled_modules() else "pure Python") in result.output
