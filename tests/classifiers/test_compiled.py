"""The Cython accelerator (hatch_build.py): active in CI, same output as the Python source, never stale."""

from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import classifiers

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
EXT = tuple(importlib.machinery.EXTENSION_SUFFIXES)

HARD = [
    "Per 1 april verdwijnt de pinautomaat bij de Spar in Warffum 😡 #HetHogeland",
    "#Warffum #pinautomaat weg!! #krimp",
    "De bus tussen Winschoten en Bellingwolde rijdt niet meer. #OostGroningen",
    "De bus naar Holwerd\nrijdt niet meer, het dorp is boos",
    "De bus naar  Holwerd rijdt niet meer in het dorp",
    " De bibliotheek in Assen sluit.\t",
    "Feest in Dokkum: ) en de huisarts in het dorp stopt",
    "In Vorden-Hengelo sluit de school, in Ljouwert-Noard niet",
    "Echt-Susteren: de supermarkt blijft open, de huisarts stopt niet",
    "De school in 's-Gravendeel sluit niet, zegt de gemeente",
    "Het dorpshuis in Laren (Gld) gaat niet dicht",
    "Wonen in Bergen (NH) of Bergen (L.)? Geen huis te krijgen",
    "Ter Apel: geen opvolger voor de huisarts\n\nWat nu?",
    "Jongeren trekken weg uit de Achterhoek; scholen krimpen",
    "In Best. Niks aan de hand.",
    "Wijk bij Duurstede krijgt geen glasvezel",
    "ZEELAND: BUS RIJDT NIET MEER NAAR SLUIS",
    "bibbliotheek in ons dorp verdwijnt, geen bus meer, niks te doen",
    "De huisarts in Marum, Leek en Zuidhorn stopt",
    "(gemeente Maashorst) Oostrum krijgt een nieuwe supermarkt",
    "Mooi weer vandaag.",
    "",
    "12:30 (3) 1x per uur",
    "#NoordLimburg #Venray: de brievenbus is weg",
]


def _texts() -> list[str]:
    lines = (HERE / "labelled_posts.jsonl").read_text(encoding="utf-8").splitlines()
    labelled = [json.loads(line)["text"] for line in lines if line.strip()]
    return HARD + labelled  # ~200


def _run(code: str, env: dict[str, str], stdin: str = "", cwd: Path = REPO) -> subprocess.CompletedProcess:
    # `python -c` puts the working directory first on sys.path
    return subprocess.run([sys.executable, "-c", code], check=False, input=stdin, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300, cwd=cwd)


def _pure_env() -> dict[str, str]:
    return {"LISTENER_PURE_PYTHON": "1"}


def test_accelerator_active_in_ci(clf):
    got = classifiers.compiled_modules()
    if not got and not IN_CI:
        pytest.skip("no compiled modules (no C compiler or Cython at install time); required under CI=true")
    assert got, "CI=true: the classifier must run compiled (pip install -e . compiles it with Cython)"
    assert set(got) == set(classifiers.ACCELERATED)
    for name in got:
        assert sys.modules[name].__file__.endswith(EXT), name


def test_pure_python_gives_the_same_output(clf):
    texts = _texts()
    assert len(texts) >= 200
    mine = [c.to_dict() for c in clf.classify_many(texts, batch_size=64)]
    code = (
        "import json, sys\n"
        "import classifiers, classifiers.chunks\n"
        "assert classifiers.compiled_modules() == [], classifiers.compiled_modules()\n"
        "assert classifiers.chunks.__file__.endswith('.py')\n"
        "from pathlib import Path\n"
        f"clf = classifiers.Classifier(Path({str(REPO / 'keywords_nl.txt')!r}))\n"
        "texts = json.load(sys.stdin)\n"
        "print(json.dumps([c.to_dict() for c in clf.classify_many(texts, batch_size=64)]))\n"
    )
    done = _run(code, _pure_env(), json.dumps(texts))
    assert done.returncode == 0, done.stderr
    assert "changed since it was compiled" not in done.stderr
    theirs = json.loads(done.stdout)
    assert sum(bool(d["evidence"]) for d in mine) > 100  # the texts do exercise the rules
    assert theirs == mine


@pytest.fixture()
def package_copy(tmp_path: Path) -> Path:
    """A copy of the installed classifiers package with its extension modules and _compiled.json."""
    shutil.copytree(Path(classifiers.__file__).parent, tmp_path / "classifiers",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _import_chunks(root: Path, **env: str) -> tuple[dict, str]:
    code = ("import json, classifiers, classifiers.chunks, classifiers.core\n"
            "print(json.dumps({'chunks': classifiers.chunks.__file__, 'core': classifiers.core.__file__,"
            " 'compiled': classifiers.compiled_modules()}))\n")
    done = _run(code, {"PYTHONPATH": str(root), "LISTENER_PURE_PYTHON": "", **env}, cwd=root)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert Path(got["chunks"]).is_relative_to(root)
    return got, done.stderr


def test_edited_source_wins_over_its_stale_extension(package_copy: Path):
    if not classifiers.compiled_modules() and not IN_CI:
        pytest.skip("no compiled modules to go stale (outside CI only; under CI=true they are required)")
    got, err = _import_chunks(package_copy)
    assert got["chunks"].endswith(EXT) and got["core"].endswith(EXT)
    assert "changed since it was compiled" not in err

    with (package_copy / "classifiers" / "chunks.py").open("a", encoding="utf-8") as f:
        f.write("# an edit after the last install\n")
    got, err = _import_chunks(package_copy)
    assert got["chunks"].endswith(".py")
    assert got["core"].endswith(EXT)  # the others stay compiled
    assert "classifiers.chunks" not in got["compiled"] and "classifiers.core" in got["compiled"]
    assert err.count("classifiers/chunks.py changed since it was compiled; using the Python source") == 1, err

    got, err = _import_chunks(package_copy, LISTENER_PURE_PYTHON="1")
    assert got["chunks"].endswith(".py") and got["core"].endswith(".py") and got["compiled"] == []
    assert "changed since it was compiled" not in err


def test_importing_the_package_loads_neither_spacy_nor_the_classifier_modules_it_guards():
    # the reports and the CLI import `classifiers` for its names; spaCy (0.75 s) loads only with a Classifier
    got = _run("import sys, classifiers; print(sorted(m for m in ('spacy', 'classifiers.chunks', "
               "'classifiers.components.theme_matcher') if m in sys.modules))", {})
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "[]"
