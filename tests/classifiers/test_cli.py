"""`listener classify | explain | evaluate | gazetteer` through the real entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from listener.cli.app import main

LABELLED = Path(__file__).resolve().parent / "labelled_posts.jsonl"


@pytest.fixture()
def run():
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


def test_classify_jsonl_keeps_fields(run, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "1", "author": "x", "text": "De huisarts in Dokkum stopt, geen opvolger."})
                   + "\n\n" + json.dumps({"id": "2", "text": "Mooi weer."}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    res = run("classify", str(src), "-o", str(out))
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in lines] == ["1", "2"]
    assert lines[0]["author"] == "x" and lines[0]["themes"] == ["zorg"] and lines[0]["signals"] == ["probleem"]
    assert lines[0]["municipalities"][0]["name"] == "Noardeast-Fryslân"
    assert lines[1]["themes"] == [] and lines[1]["evidence"] == []
    assert set(lines[1]) == {"id", "text", "themes", "signals", "municipalities", "regions", "evidence"}


def test_classify_csv_and_stdout(run, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,text\n7,\"Vrijwilligers gezocht voor het dorpshuis in Ulrum!\"\n", encoding="utf-8-sig")
    res = run("classify", str(src), "--with-version")
    assert res.exit_code == 0
    rec = json.loads(res.output)
    assert rec["id"] == "7" and "gemeenschap" in rec["themes"]
    assert rec["classifier_version"].startswith("0.1.0+kw")


def test_classify_stdin(run):
    res = run("classify", "-", input=json.dumps({"text": "Buslijn naar Ee geschrapt."}) + "\n")
    assert res.exit_code == 0 and json.loads(res.output)["themes"] == ["mobiliteit"]


def test_classify_bad_line_exit_2(run, tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps({"text": "ok"}) + "\n{\"text\": \n", encoding="utf-8")
    res = run("classify", str(src))
    assert res.exit_code == 2
    assert "bad.jsonl:2" in res.output


def test_classify_missing_file_and_no_text(run, tmp_path):
    assert run("classify", str(tmp_path / "nope.jsonl")).exit_code == 2
    src = tmp_path / "x.csv"
    src.write_text("id,body\n1,hallo\n", encoding="utf-8")
    res = run("classify", str(src))
    assert res.exit_code == 2 and "'text' column" in res.output


def test_explain(run):
    res = run("explain", "De pinautomaat in Warffum verdwijnt #Achterhoek")
    assert res.exit_code == 0
    for word in ("voorzieningen", "pinautomaat", "Het Hogeland", "Warffum", "Achterhoek", "probleem"):
        assert word in res.output


def test_evaluate_with_baseline_and_errors(run):
    res = run("evaluate", str(LABELLED), "--baseline", "--errors")
    assert res.exit_code == 0
    assert "baseline" in res.output and "voorzieningen" in res.output
    errors = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    assert all("expected" in e for e in errors)


def test_gazetteer_show(run):
    res = run("gazetteer", "show", "Ljouwert")
    assert res.exit_code == 0 and "GM0080" in res.output and "Leeuwarden" in res.output
    res = run("gazetteer", "show", "Bergen")
    assert "Bergen (NH.)" in res.output and "Bergen (L.)" in res.output
    assert run("gazetteer", "show", "Atlantis").exit_code == 2


def test_gazetteer_update_dry_run_from_file(run, tmp_path, fixtures_dir):
    from classifiers.data import default_gazetteer_dir

    gz = tmp_path / "gz"
    shutil.copytree(default_gazetteer_dir(), gz, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    page1 = json.loads((fixtures_dir / "cbs_gebieden_page1.json").read_text(encoding="utf-8"))
    page2 = json.loads((fixtures_dir / "cbs_gebieden_page2.json").read_text(encoding="utf-8"))
    recorded = tmp_path / "recorded.json"
    recorded.write_text(json.dumps({"value": page1["value"] + page2["value"]}), encoding="utf-8")
    before = (gz / "gemeenten.tsv").read_text(encoding="utf-8")
    res = run("gazetteer", "update", "--from-file", str(recorded), "--dry-run", "--dir", str(gz))
    assert res.exit_code == 0, res.output
    assert "nieuw: GM9999 Veenkoloniën-Midden" in res.output and "weg: GM0765 Pekela" in res.output
    assert (gz / "gemeenten.tsv").read_text(encoding="utf-8") == before
