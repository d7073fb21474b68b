"""Check that two versions of classifiers/ give byte-identical output (``Classification.to_dict()``).

    git archive HEAD classifiers | tar -x -C /tmp/orig          # the version to compare against
    python bench/check_classify_identical.py --orig /tmp/orig    # ~150,000 texts, a few minutes

Each version runs in its own process (``--dump ROOT``), on the same texts, and writes one JSON line per
text; the lines must be equal. The texts: /work/shared/dev_posts.jsonl (if present), the labelled test
set, every string literal in tests/classifiers/, recombinations of their words with tricky tokens,
bench/corpus.py posts (several seeds, ``relevant_share`` 0.35 / 0.05 / 0), corpus.py import records, and
mutations of all of these (newlines, tabs, double and leading spaces, hashtags, URLs, case, glued
punctuation). Most go through ``classify_many`` (batch 512, so caches and memory zones behave as in a
stream); some through ``classify`` and other batch sizes, and a slice through two processes.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import itertools
import json
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEV = Path("/work/shared/dev_posts.jsonl")
TRICKY = ["in", "Best", "Best.", "#", "#HetHogeland", "Ee", "Sluis", "dorpshuis", "sluit", "niet", "(", "NH", ")",
          "(NH)", "gem.", "Rhenen", "Vorden-Hengelo", "Bergen", "😡", "-", "'s-Gravendeel", "Zeeland", "geen", "...",
          "bus", "Achterhoek", ":", ":)", "bijv", ".", "bijv.", "D", "(:", "L.", "Pol.", "’t", "Ter", "Apel", "De",
          "Jouwer", "Hoek", "van", "Holland", "FC", "Twente", "gemeente", "dorp", "hier", "bij", "ons", "(gem.",
          "Deurne)", "Laren", "(Gld)", "Elst", "#Lochem", "huisarts", "stopt", "opvolger", "Echt-Susteren",
          "Ljouwert-Noard", "St.", "m.b.t.", "Den", "Haag", "1x", "per", "uur", "wat", "te", "doen", "niks", "Een",
          "Warffum!", "Warffum,", "(Dokkum)", "Dokkum's", "Groningen", "provincie", "richting", "Amersfoort",
          "#ZeeuwsVlaanderen", "Hof", "Twente", "Wijk", "Duurstede", "Achterhoekse", "#NoordLimburg", "Parkstad",
          "Oostrum", "Venray", "(gemeente", "Maashorst)", "Hengelo", "Beek", "Putten", "Goes", "Marum,", "Leek",
          "en", "Zuidhorn", "krimp", "trui", "school", "makrelen", "folders", "glasvezel", "hengel", "brievenbus",
          "supermarkt", "verdwijnt", "bibbliotheek", "gaat", "1", "mei", "dicht", "blijft", "open", "\n", "!", "?"]


def _jsonl_texts(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _test_strings() -> list[str]:
    out = []
    for path in sorted((REPO / "tests" / "classifiers").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip():
                out.append(node.value)
    return out


def _mutate(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    kind = rng.randrange(10)
    if kind == 0:
        return "\n".join(words) if rng.random() < 0.2 else " ".join(
            w + ("\n" if rng.random() < 0.1 else "") for w in words)
    if kind == 1:
        return "  ".join(words[:3]) + " " + " ".join(words[3:])
    if kind == 2:
        return " " + text + rng.choice(["", " ", "\t", "\n"])
    if kind == 3:
        return " ".join("#" + w if w[:1].isupper() and rng.random() < 0.5 else w for w in words)
    if kind == 4:
        return text + rng.choice([" https://t.co/abc", " www.rtvnoord.nl/nieuws/123", " (https://x.nl/a-b)",
                                  " http://dorp.nl/Warffum-sluit", " mail@dorp.nl"])
    if kind == 5:
        return text.lower() if rng.random() < 0.5 else text.upper()
    if kind == 6:
        return text.replace(" ,", ",").replace(". ", ".").replace(", ", ",")
    if kind == 7:
        return " ".join(w + rng.choice(["", "", ".", ",", "!", ")", ":"]) for w in words)
    if kind == 8:
        return " ".join(rng.choice(["(", "'", "\"", ""]) + w for w in words)
    return "\t".join(words) if rng.random() < 0.1 else text.replace(" ", "  ", 2)


def texts() -> list[tuple[str, list[str]]]:
    """(name, texts) of every group, the same on every call."""
    sys.path.insert(0, str(HERE))
    import corpus

    groups = []
    base = _jsonl_texts(DEV) + _jsonl_texts(REPO / "tests" / "classifiers" / "labelled_posts.jsonl")
    groups.append(("dev + labelled", base))
    groups.append(("test strings", _test_strings()))
    rng = random.Random(11)
    words = " ".join(base).split()
    groups.append(("recombined", [" ".join(rng.choice(TRICKY if rng.random() < 0.6 else words)
                                           for _ in range(rng.randint(1, 30))) for _ in range(20_000)]))
    for seed, share, n in [(1, 0.35, 30_000), (2, 0.05, 20_000), (3, 0.0, 20_000), (5, 0.35, 20_000),
                           (4, 1.0, 10_000)]:
        groups.append((f"corpus seed={seed} relevant_share={share}", list(corpus.posts(n, seed=seed,
                                                                                      relevant_share=share))))
    groups.append(("corpus records seed=7", [r["text"] for r in corpus.records(20_000, seed=7,
                                                                                end_week="2026-W47")]))
    rng = random.Random(12)
    pool = [t for _, group in groups for t in group]
    groups.append(("mutated", [_mutate(rng.choice(pool), rng) for _ in range(30_000)]))
    return groups


def dump(root: str, out: str) -> None:
    sys.path.insert(0, root)
    from classifiers import Classifier

    clf = Classifier(REPO / "keywords_nl.txt", REPO / "classifiers" / "data")
    assert Path(sys.modules["classifiers"].__file__).resolve().is_relative_to(Path(root).resolve())
    with open(out, "w", encoding="utf-8") as f:
        groups = texts()
        for name, group in groups:
            results = list(clf.classify_many(group, batch_size=512))
            f.writelines(json.dumps([name, text, res.to_dict()], ensure_ascii=False) + "\n"
                         for text, res in zip(group, results))
        # other entry points on a slice: one at a time, small batches, two processes
        group = groups[0][1] + groups[3][1][:3000]
        for how, results in [("classify", [clf.classify(t) for t in group]),
                             ("batch 7", list(clf.classify_many(group, batch_size=7))),
                             ("2 processes", list(clf.classify_many(group, batch_size=64, n_process=2)))]:
            f.writelines(json.dumps([how, text, res.to_dict()], ensure_ascii=False) + "\n"
                         for text, res in zip(group, results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--orig", help="directory holding the classifiers/ package to compare against")
    parser.add_argument("--new", default=str(REPO), help="directory holding the new classifiers/ (default: repo)")
    parser.add_argument("--out", default="/tmp/check_classify", help="where the two dumps go")
    parser.add_argument("--dump", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dump:
        dump(args.dump, args.out)
        return
    if not args.orig:
        parser.error("--orig is required")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    files = []
    for label, root in (("orig", args.orig), ("new", args.new)):
        out = str(Path(args.out) / f"{label}.jsonl")
        start = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--dump", root, "--out", out], check=True)
        print(f"{label}: {root} ({time.perf_counter() - start:.0f} s)")
        files.append(out)
    with open(files[0], encoding="utf-8") as a, open(files[1], encoding="utf-8") as b:
        counts: dict[str, list[int]] = {}
        shown = 0
        for x, y in itertools.zip_longest(a, b):
            name = json.loads(x or y)[0]
            c = counts.setdefault(name, [0, 0, 0])
            c[0] += 1
            c[1] += x != y
            c[2] += bool(json.loads(x)[2]["evidence"]) if x else 0
            if x != y and shown < 5:
                shown += 1
                print("DIFFERENT:\n  orig", x and x.strip(), "\n  new ", y and y.strip())
    total = sum(c[0] for c in counts.values())
    diff = sum(c[1] for c in counts.values())
    for name, (n, d, tagged) in counts.items():
        print(f"{name:40s} {n:>8,} texts {tagged:>8,} tagged {d:>6,} different")
    digest = hashlib.sha256(Path(files[0]).read_bytes()).hexdigest()[:16]
    print(f"total {total:,} texts, {diff:,} different; orig dump sha256 {digest}")
    sys.exit(1 if diff else 0)


if __name__ == "__main__":
    main()
