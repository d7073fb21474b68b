"""Hostile feeds and payloads (tests/fixtures/hostile/) through the real RSS collector and pipeline."""

from __future__ import annotations

import csv
import functools
import http.server
import json
import re
import threading
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from listener.cli import main
from listener.config import parse_config
from listener.pipeline import Pipeline
from listener.store.db import session_scope
from listener.store.models import Post, Run

HOSTILE = Path(__file__).resolve().parent / "fixtures" / "hostile"
REFUSED = "declares XML entities"

# file → (expected status, a check on the stored texts of that source)
EXPECTED: dict[str, tuple[str, str | None]] = {
    "billion_laughs": ("failed", REFUSED),
    "xxe_passwd": ("failed", REFUSED),
    "xxe_parameter_entity": ("failed", REFUSED),
    "invalid_utf8": ("ok", None),
    "nul_bytes": ("ok", None),
    "unicode_tricks": ("ok", None),
    "markup_attacks": ("ok", None),
}


def _sid(name: str) -> str:
    return name.replace("_", "-")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local HTTP server over the hostile fixtures plus a generated 20 MB single-line title."""
    root = tmp_path_factory.mktemp("served")
    for f in HOSTILE.iterdir():
        if f.is_file():
            (root / f.name).write_bytes(f.read_bytes())
    with (root / "huge_title.xml").open("w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0"?><rss version="2.0"><channel><title>groot</title><item><title>')
        fh.write("Het dorp is boos " * (20_000_000 // 17))
        fh.write("</title><guid>big1</guid></item></channel></rss>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _run(tmp_path: Path, factory, sources: list[dict]):  # noqa: ANN001, ANN202
    cfg = parse_config({"settings": {"max_body_mb": 10, "timeout_s": 10},
                        "sources": [{"keep_irrelevant": True, "languages": [], **s} for s in sources]},
                       tmp_path / "sources.yaml")
    summary = Pipeline(cfg, factory, tagger=None).run(only_due=False)
    with session_scope(factory) as s:
        texts: dict[str, list[str]] = {}
        for p in s.scalars(select(Post)):
            texts.setdefault(p.source_id, []).append(p.text)
        links = [p.url for p in s.scalars(select(Post))]
        errors = [r.error or "" for r in s.scalars(select(Run))]
    return {r.source_id: r for r in summary.results}, texts, links, errors


def _check_clean(texts: list[str]) -> None:
    for t in texts:
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u200b\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]", t), repr(t)
        assert not re.search(r"<\s*/?\s*(script|iframe|img|style|a|p|div)\b", t, re.IGNORECASE), t
        assert "javascript:" not in t and "onerror" not in t and "document.cookie" not in t


def test_hostile_files_through_the_pipeline(tmp_path: Path, sqlite_store) -> None:
    _, factory = sqlite_store
    results, texts, links, errors = _run(
        tmp_path, factory, [{"id": _sid(n), "kind": "rss", "url": f"file://{HOSTILE / n}.xml"} for n in EXPECTED]
    )
    for name, (status, error) in EXPECTED.items():
        res = results[_sid(name)]
        assert res.status == status, (name, res.error)
        if error:
            assert error in (res.error or "")
            assert _sid(name) not in texts
    for sid, ts in texts.items():
        _check_clean(ts)
    everything = json.dumps([texts, errors])
    assert "root:x:0:0" not in everything and "lollol" not in everything
    assert "Geldmaat" in " ".join(texts["unicode-tricks"]) and "pinautomaat" in " ".join(texts["unicode-tricks"])
    assert len(texts["markup-attacks"]) == 4
    assert any("diep bezorgd" in t for t in texts["markup-attacks"])  # deep nesting: text survives
    assert all(link is None or link.startswith(("http://", "https://")) for link in links)
    assert "\x1b" not in " ".join(texts["nul-bytes"])


def test_hostile_feeds_over_http_and_the_size_cap(tmp_path: Path, sqlite_store, server: str) -> None:
    _, factory = sqlite_store
    results, texts, _, errors = _run(tmp_path, factory, [
        {"id": "laughs", "kind": "rss", "url": f"{server}/billion_laughs.xml"},
        {"id": "xxe", "kind": "rss", "url": f"{server}/xxe_passwd.xml"},
        {"id": "huge", "kind": "rss", "url": f"{server}/huge_title.xml"},
        {"id": "markup", "kind": "rss", "url": f"{server}/markup_attacks.xml"},
    ])
    assert {k: r.status for k, r in results.items()} == {"laughs": "failed", "xxe": "failed", "huge": "failed", "markup": "ok"}
    assert "byte cap" in results["huge"].error and len(results["huge"].error) < 300
    assert list(texts) == ["markup"]
    _check_clean(texts["markup"])


def test_formula_in_a_title_is_neutralised_in_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    # The classifier plays no part here; run in the supported "not installed" mode (faster).
    monkeypatch.setitem(sys.modules, "classifiers", types.ModuleType("classifiers"))
    db = f"sqlite:///{tmp_path / 'l.db'}"
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(f"sources:\n  - id: m\n    kind: rss\n    url: {HOSTILE / 'markup_attacks.xml'}\n"
                   "    keep_irrelevant: true\n    languages: []\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["--db", db, "--sources", str(cfg), "run", "--once"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "out.csv"
    r = CliRunner().invoke(main, ["--db", db, "export", "--format", "csv", "-o", str(out)])
    assert r.exit_code == 0, r.output
    cells = [c for row in csv.reader(out.open(encoding="utf-8")) for c in row]
    assert any(c.startswith("'=HYPERLINK") for c in cells)
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)


def test_hostile_mastodon_payload() -> None:
    from listener.collectors.mastodon import status_to_post
    from listener.pipeline import IngestCounts, prepare

    status = json.loads((HOSTILE / "mastodon_status_hostile.json").read_text(encoding="utf-8"))
    post = status_to_post(status, "masto", "dorp.social")
    src = parse_config({"sources": [{"id": "masto", "kind": "rss", "url": "f.xml", "keep_irrelevant": True}]},
                       Path("sources.yaml")).sources[0]
    [row] = prepare([post], src, None, IngestCounts())
    assert "@gebruiker" in row.text and "[telefoon]" in row.text
    assert "piet" not in row.text and "alert" not in row.text and "javascript" not in row.text
    assert "\u202e" not in row.text and "\u200b" not in row.text
    assert row.author_key and "jan" not in row.author_key
    assert set(row.raw or {}) <= {"id", "instance", "origin", "tags", "replies", "reblogs", "favourites"}
