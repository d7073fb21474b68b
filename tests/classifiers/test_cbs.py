"""`gazetteer update` against recorded CBS OData responses: httpx.MockTransport and a local server."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from classifiers.cbs import fetch, parse, update
from classifiers.gazetteer import load_gazetteer
from listener.errors import SourceError


@pytest.fixture()
def pages(fixtures_dir: Path) -> list[bytes]:
    return [(fixtures_dir / f"cbs_gebieden_page{i}.json").read_bytes() for i in (1, 2)]


@pytest.fixture()
def gz_dir(tmp_path: Path) -> Path:
    from classifiers.data import default_gazetteer_dir

    target = tmp_path / "gz"
    shutil.copytree(default_gazetteer_dir(), target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def transport(pages: list[bytes], seen: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        body = pages[1] if "skip" in str(request.url) else pages[0]
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json;odata=minimalmetadata"})

    return httpx.MockTransport(handler)


def test_fetch_follows_next_link(pages):
    seen: list[str] = []
    with httpx.Client(transport=transport(pages, seen)) as client:
        rows = fetch("https://opendata.cbs.nl/ODataApi/odata/85385NED/TypedDataSet", client)
    assert len(seen) == 2 and len(rows) == 341
    parsed = parse(rows)
    assert ("GM0014", "Groningen", "Groningen") in parsed
    assert ("GM1970", "Noardeast-Fryslân", "Fryslân") in parsed


def test_update_writes_new_list(pages, gz_dir):
    with httpx.Client(transport=transport(pages, [])) as client:
        report = update(gz_dir, client=client)
    assert report.written and report.added == ["GM9999 Veenkoloniën-Midden"]
    assert set(report.removed) == {"GM0047 Veendam", "GM0765 Pekela"}
    g = load_gazetteer(gz_dir)  # woonplaatsen of removed municipalities are skipped, not fatal
    assert "GM9999" in g.municipalities and "GM0765" not in g.municipalities


def test_update_http_error(gz_dir):
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    with pytest.raises(SourceError, match="CBS open data"):
        update(gz_dir, client=client)


def test_cli_update_against_local_server(pages, gz_dir):
    from click.testing import CliRunner

    from listener.cli.app import main

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = pages[1] if "skip" in self.path else pages[0]
            if "skip" not in self.path:
                payload = json.loads(body)
                payload["odata.nextLink"] = f"http://127.0.0.1:{self.server.server_port}/odata/T/TypedDataSet?$skip=170"
                body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/odata/T/TypedDataSet"
        res = CliRunner().invoke(main, ["gazetteer", "update", "--url", url, "--dir", str(gz_dir)])
    finally:
        server.shutdown()
    assert res.exit_code == 0, res.output
    assert "gemeenten.tsv bijgewerkt" in res.output
    assert "GM9999\tVeenkoloniën-Midden\tGroningen" in (gz_dir / "gemeenten.tsv").read_text(encoding="utf-8")
