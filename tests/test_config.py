"""sources.yaml validation: each kind of mistake gives its own one-line error and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from listener.cli import main
from listener.config import load_config
from listener.errors import ConfigError

VALID = """
settings:
  contact: analist@gemeente.example
sources:
  - id: rtv-noord
    kind: rss
    url: https://www.rtvnoord.nl/rss/index.xml
    schedule: 30m
  - id: lokaal
    kind: rss
    url: feeds/lokaal.xml
    schedule: "0 */6 * * *"
"""

CASES = [
    ("unknown kind", "sources:\n  - id: a\n    kind: telegram\n    url: x", "source 'a': field 'kind': unknown kind 'telegram'"),
    ("missing url", "sources:\n  - id: rtv-oost\n    kind: rss", "source 'rtv-oost': field 'url' is missing"),
    ("missing id", "sources:\n  - kind: rss\n    url: x", "source #1: field 'id' is missing"),
    ("missing kind", "sources:\n  - id: a\n    url: x", "source 'a': field 'kind' is missing"),
    ("bad schedule", "sources:\n  - id: a\n    kind: rss\n    url: x\n    schedule: elke dag", "source 'a': field 'schedule'"),
    ("bad cron", "sources:\n  - id: a\n    kind: rss\n    url: x\n    schedule: '61 * * * *'", "source 'a': field 'schedule'"),
    ("duplicate id", "sources:\n  - id: a\n    kind: rss\n    url: x\n  - id: a\n    kind: rss\n    url: y", "source 'a': duplicate id"),
    ("unknown field", "sources:\n  - id: a\n    kind: rss\n    url: x\n    ulr: y", "source 'a': field 'ulr' is not a known field"),
    ("credential", "sources:\n  - id: x1\n    kind: rss\n    url: x\n    bearer_token: AAAA", "source 'x1': field 'bearer_token' looks like a credential"),
    ("bad id", "sources:\n  - id: 'Mijn Bron!'\n    kind: rss\n    url: x", "field 'id'"),
    ("bad url scheme", "sources:\n  - id: a\n    kind: rss\n    url: 'ftp://x/y'", "source 'a': field 'url'"),
    ("yaml syntax", "sources:\n  - id: a\n   kind: rss", "invalid YAML"),
    ("not a mapping", "- id: a", "top level must be a mapping"),
    ("bad setting", "settings:\n  concurrency: 0\nsources: []", "field 'settings.concurrency'"),
    ("unknown keyword set", "keyword_sets:\n  dorp: [buurtbus]\nsources:\n  - id: a\n    kind: x\n    keywords: dorpen",
     "source 'a': field 'keywords': unknown keyword set 'dorpen' (known: dorp)"),
]


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "sources.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_valid_config(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, VALID))
    assert [s.id for s in cfg.sources] == ["rtv-noord", "lokaal"]
    assert cfg.settings.contact == "analist@gemeente.example"
    # A relative feed path is relative to sources.yaml, not to the working directory.
    assert cfg.source("lokaal").url == str(tmp_path / "feeds" / "lokaal.xml")
    assert cfg.source("lokaal").parsed_schedule.cron == "0 */6 * * *"
    assert cfg.source("rtv-noord").languages == ["nl", "fy"]


@pytest.mark.parametrize("name,text,expected", CASES, ids=[c[0] for c in CASES])
def test_invalid_config_message(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert msg.startswith(str(path)), msg
    assert expected in msg
    assert "\n" not in msg


@pytest.mark.parametrize("name,text,expected", CASES, ids=[c[0] for c in CASES])
def test_invalid_config_exit_code(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    result = CliRunner().invoke(main, ["--sources", str(path), "sources", "check"])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    if name == "credential":
        assert "AAAA" not in result.output


def test_missing_file_is_config_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--sources", str(tmp_path / "nope.yaml"), "sources", "check"])
    assert result.exit_code == 2
    assert "file not found" in result.output


def test_repository_sources_yaml_is_valid() -> None:
    repo = Path(__file__).resolve().parent.parent
    for path in (repo / "sources.yaml", repo / "examples" / "sources.yaml"):
        cfg = load_config(path)
        assert cfg.sources, path
    kinds = {s.kind for s in load_config(repo / "sources.yaml").sources}
    # every platform, and credential-less generated feeds, in the real default configuration
    assert kinds == {"rss", "x", "reddit", "mastodon", "bluesky"}
    assert any(s.id.startswith("gen-") for s in load_config(repo / "sources.yaml").sources)
