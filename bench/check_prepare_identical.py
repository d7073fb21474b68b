"""Check that the import path gives byte-identical output to an earlier revision of the code.

Loads listener/{privacy,language,text,tagging,ingest,importer,models}.py as they were at --rev
(``git show``, read-only; default HEAD) into a temporary package and runs the old and the working
tree's functions on the same input: every post of --corpus, hand-written tricky cases, and
--fuzz random texts built from the pieces the masks and detectors look for (digits, "@", "+",
"://", www., brackets, " at ", full-width forms, İ, Σ, ſ, combining marks, tabs, CR, controls).
Compared: clean_text, html_to_text, detect, mask_text (with and without public accounts),
content_hash, normalise_handle, author_key, pseudonymous_id, mask_url_credentials, to_post,
screen, and the serialised rows of every import batch (``_prepare_batch``: decode, to_post,
prepare with the real classifier, tag_rows, store_rows). Exits 1 at the first difference.

Example:
  python bench/make_corpus.py --n 20000 --jsonl /tmp/kl/ing/posts.jsonl --end-week 2026-W47
  python bench/check_prepare_identical.py --corpus /tmp/kl/ing/posts.jsonl --rev HEAD
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MODULES = ("privacy", "language", "text", "tagging", "ingest", "importer", "models")

TRICKY = [
    "", " ", "\n", "a", "@", "06", "+31", "Σ", "İ",
    "Mail jan@dorp.nl of bel 06-12345678", "Bel +31 6 1234 5678 of 0031 (0)50 123 4567 of (050) 123 45 67",
    "0612345678 en 06 12 34 56 78 en 06-12-2026 14:00 en 0800-1234567 en 0900-1234567",
    "Doneren op NL91ABNA0417164300 of NL91 ABNA 0417 1643 00 of BE68 5390 0754 7034 voor de club",
    "IBAN de89370400440532013000 nl91abna0417164300x NL91ABNA041716430",
    "Bel +49 30 1234567 of 0049 30 12345678 of +1 (555) 123-4567, niet +31 6 12345678",
    "https://jan:geheim@example.nl/feed?x=1 en ftp://user@host.nl/pad en wss://a:b@c.d",
    "https://mastodon.social/@jan en https://mastodon.social/@jan@dorp.social/123 en https://x.com/jan/status/1",
    "https://www.reddit.com/user/jan_de_boer/ en https://bsky.app/profile/jan.bsky.social en www.instagram.com/jan",
    "https://x.com/home https://x.com/i/web/status/1 https://facebook.com/events/1 https://www.facebook.com/piet",
    "WWW.Dorp.NL/contact of wWw.dorp.nl en mail@www.dorp.nl",
    "Hoi @jan, @gemeente_groningen en @Jan@dorp.social zeggen: mail info@dorp.nl",
    "u/jan_de_boer en /u/piet_123 zeggen r/thenetherlands",
    "naam [at] dorp.nl, naam (at) dorp (punt) nl, naam at dorp dot nl, naam AT dorp DOT com, x {apenstaartje} y.frl",
    "naam apenstaartje dorp punt nl en naam apenſtaartje dorp.nl en naam [@] dorp [.] io",
    "Ik bin hjir yn it doarp. It is net sa. Fan 'e mienskip, yn 'e skoalle. Ús doarpshûs sil tichtgean.",
    "Wy hawwe gjin bern mear op 'e skoalle, tsjin de wil fan de mienskip. Dêrom binne wy net bliid.",
    "The village school will close and they are not happy about it at all, said the council.",
    "Die Schule im Dorf wird geschlossen und wir sind nicht froh, sagt der Bürgermeister.",
    "L'école du village va fermer et nous ne sommes pas contents, dit le maire.",
    "Het dorpshuis 🏠 sluit 😢 #krimp #Groningen 🇳🇱 café ideeën Curaçao naïef",
    "Ｍａｉｌ ｊａｎ＠ｄｏｒｐ．ｎｌ ｏｆ ｂｅｌ ０６－１２３４５６７８ ＠ｊａｎ ﹫piet",
    "Geld\u200bmaat\x00  sluit\r\n\r\nmorgen\t\tdicht\u00a0\u00a0nu\x7f\x85 \ufeffstart \u202eevil\u202c",
    "İSTANBUL İzmir ΟΔΟΣ ΣΟΦΙΑ ΑΣ''Β Kelvin K ſchool ı",
    "Москва и Київ, 東京 と 大阪, مرحبا بالعالم, שלום עולם — mixed scripts in één post",
    "e\u0301e\u0308n cafe\u0301 A\u030a ﬁne ﬀ ² ½ ℌ Ⅻ",
    "\ud800 lone surrogate \udfff and \ufffe \uffff",
    "  veel   spaties\t\tand\ttabs  \n\n  en regels \n ",
    "<p>Dorpshuis <b>open</b></p><script>x()</script>&amp;lt;script&amp;gt;",
    "a" * 5000 + " 06-12345678 " + "b@c.nl " * 300,
    ("Het dorp sluit de school. " * 4000)[:100_000] + " bel 0612345678",
]

# Pieces for random texts: what the fast paths test for, and what they must not miss.
PIECES = [
    " ", " ", " ", "  ", "\t", "\n", "\r\n", "\r", "\x00", "\x0b", "\x85", "\u00a0", "\u2003", "\u3000",
    "de", "het", "school", "dorp", "is", "net", "it is", "ik bin", "fan 'e", "yn 'e", "ús", "Ús", "doarpen", "hjir",
    "the", "und", "le", "NET", "Net", "IK BIN", "tsjin",
    "@", "＠", "﹫", "@jan", "@Jan@dorp.social", "jan@dorp.nl", "a.b+c@d-e.co.uk", "[at]", "(at)", " at ", " AT ",
    "{apenstaartje}", " apenstaartje ", " apenſtaartje ", "(punt)", " dot ", " punt ", ".nl", ".NL", ".info", ".ınfo",
    "0", "00", "06", "0612345678", "06-12345678", "+31", "+31 6", "0031", "(0)", "(050)", " 123 45 67", "12345678",
    "+49 30 1234567", "0049", "0800", "0900", "14:00", "06-12-2026", "٣", "０６", "１２３４５６７８", "²",
    "NL91ABNA0417164300", "NL91 ABNA 0417 1643 00", "BE68 5390 0754 7034", "de89370400440532013000", "GB", "nl91",
    "https://", "http://", "HTTPS://", "ftp://", "wss://", "www.", "WWW.", "wWw.", "://", "jan:pw@", "x.com/", "/@",
    "/u/", "u/", "u/jan_de_boer", "reddit.com/user/", "bsky.app/profile/", "instagram.com", "/status/1",
    "#", "#krimp", "#Dorp", "!", "?", ".", ",", "'", "’", "-", "_", "/", "<", ">", "(", ")", "[", "]", "{", "}",
    "é", "ë", "e\u0301", "A\u030a", "ﬁ", "İ", "Σ", "ς", "ſ", "K", "ı", "â", "ê", "û", "ô", "ú", "Ú", "ß", "ẞ",
    "😀", "🇳🇱", "東京", "Москва", "\u200b", "\u00ad", "\u202e", "\ufeff", "\U000e0041", "\ud800",
]


def load_old(rev: str) -> dict[str, Any]:
    """The listener modules of ``rev`` as package ``kl_old`` (they import each other from there)."""
    d = Path(tempfile.mkdtemp(prefix="kl_old_"))
    (d / "kl_old").mkdir()
    (d / "kl_old" / "__init__.py").write_text("")
    pattern = re.compile(r"\blistener\.(" + "|".join(MODULES) + r")\b")
    for m in MODULES:
        src = subprocess.run(["git", "show", f"{rev}:listener/{m}.py"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        (d / "kl_old" / f"{m}.py").write_text(pattern.sub(r"kl_old.\1", src))
    sys.path.insert(0, str(d))
    return {m: importlib.import_module(f"kl_old.{m}") for m in MODULES}


def fuzz(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(PIECES) for _ in range(rnd.randint(1, 40))) for _ in range(n)]


def fields(obj: Any) -> Any:
    """A dataclass (Post of either package, NewPost, StoreRows) as plain values, recursively."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return tuple(fields(getattr(obj, f.name)) for f in dataclasses.fields(obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(fields(x) for x in obj)
    if isinstance(obj, dict):
        return {k: fields(v) for k, v in obj.items()}
    return obj


class Differ(Exception):
    pass


def same(what: str, arg: Any, a: Any, b: Any) -> None:
    if type(a) is not type(b) or a != b:
        raise Differ(f"{what} differs for {arg!r:.300}:\n  old {a!r:.500}\n  new {b!r:.500}")


def call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - the same exception counts as the same result
        return ("raised", type(exc).__name__, str(exc))


def check_texts(old: dict[str, Any], new: dict[str, Any], texts: list[str]) -> int:
    public = frozenset({"jan", "gemeente_groningen", "jan@dorp.social", "piet_123"})
    n = 0
    for raw in texts:
        for name, mod, args in (("clean_text", "text", (raw,)), ("html_to_text", "text", (raw,)),
                                ("content_hash", "text", (raw,)), ("mask_text", "privacy", (raw,)),
                                ("mask_text+public", "privacy", (raw, public)), ("detect", "language", (raw,)),
                                ("normalise_handle", "privacy", (raw,)), ("author_key", "privacy", ("x", raw)),
                                ("pseudonymous_id", "privacy", ("bluesky", raw)),
                                ("mask_url_credentials", "privacy", (raw,))):
            fn = name.split("+")[0]
            same(name, args, call(getattr(old[mod], fn), *args), call(getattr(new[mod], fn), *args))
        clean = new["text"].clean_text(raw)
        same("detect(clean)", clean, old["language"].detect(clean), new["language"].detect(clean))
        masked = new["privacy"].mask_text(clean)
        same("mask_text(clean)", clean, old["privacy"].mask_text(clean), masked)
        same("content_hash(masked)", masked, old["text"].content_hash(masked), new["text"].content_hash(masked))
        keyer = new["privacy"].author_keyer()
        same("author_keyer", raw, call(old["privacy"].author_key, "x", raw), call(keyer, "x", raw))
        n += 1
    return n


def check_screen(old: dict[str, Any], new: dict[str, Any], texts: list[str]) -> None:
    pairs = [(t, None) for t in texts] + [(t, "NL") for t in texts[:50]]
    for languages in ((), ("nl", "fy"), ("en",)):
        for public in (frozenset(), frozenset({"jan"})):
            same(f"screen {languages}", len(pairs), old["ingest"].screen(pairs, languages, public),
                 new["ingest"].screen(pairs, languages, public))


def check_import(old: dict[str, Any], new: dict[str, Any], lines: list[bytes], tagger: Any, batch: int) -> int:
    """Every batch through ``_prepare_batch`` of both: decoded, validated, prepared, serialised."""
    from sqlalchemy.dialects import postgresql, sqlite

    from listener.config import SourceBase

    source = SourceBase(id="import", kind="import", schedule="1d", keep_irrelevant=False)
    n = 0
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        for which in (old, new):
            which["importer"]._CONTEXT = (source, "import", "import", "posts.jsonl", tagger, dialect)
        for start in range(0, len(lines), batch):
            items = [(start + i + 1, raw, "") for i, raw in enumerate(lines[start:start + batch])]
            a = call(old["importer"]._prepare_batch, items, start)
            b = call(new["importer"]._prepare_batch, items, start)
            if a[0] == "raised" or b[0] == "raised":  # a lone surrogate in a JSON string fails the batch
                same("_prepare_batch", start, a, b)
                n += len(items)
                continue
            # collected_at/classified_at are "now" (set per batch): compare every other value.
            a_rows, b_rows = fields(a[0]), fields(b[0])
            same("store_rows.tags", start, a_rows[1], b_rows[1])
            same("store_rows.received", start, a_rows[2], b_rows[2])
            same("store_rows.count", start, len(a_rows[0]), len(b_rows[0]))
            for ra, rb in zip(a_rows[0], b_rows[0]):
                same("store_rows.row", start, [v for i, v in enumerate(ra) if i not in (7, 12)],
                     [v for i, v in enumerate(rb) if i not in (7, 12)])
            same("counts", start, fields(a[1]), fields(b[1]))
            same("bad lines", start, a[2:], b[2:])
            n += len(items)
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="/tmp/kl/ing/posts.jsonl", help="JSONL from bench/make_corpus.py")
    ap.add_argument("--rev", default="HEAD", help="git revision of the old code (default HEAD)")
    ap.add_argument("--fuzz", type=int, default=50_000, help="random texts (default 50,000)")
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--no-classifier", action="store_true", help="skip the import batches with the classifier")
    args = ap.parse_args()
    os.environ.setdefault("LISTENER_PSEUDONYM_KEY", "check-prepare-identical-key-0123456789")
    started = time.monotonic()
    old = load_old(args.rev)
    from listener import importer, ingest, language, models, privacy, tagging, text

    new = {"privacy": privacy, "language": language, "text": text, "tagging": tagging, "ingest": ingest,
           "importer": importer, "models": models}
    lines = Path(args.corpus).read_bytes().splitlines()
    records = [json.loads(x) for x in lines]
    corpus_texts = [r["text"] for r in records]
    extra = [r.get("url") or "" for r in records[:2000]] + [r.get("author") or "" for r in records[:2000]]
    try:
        n_texts = check_texts(old, new, TRICKY + corpus_texts + extra + fuzz(args.fuzz, args.seed))
        tricky_records = [{"text": t, "url": t, "author": t, "external_id": t} for t in TRICKY if t.strip()]
        for i, r in enumerate(records + tricky_records):
            a = call(old["importer"].to_post, r, "import", "import", i, "posts.jsonl")
            b = call(new["importer"].to_post, r, "import", "import", i, "posts.jsonl")
            same("to_post", r, fields(a), fields(b))
        check_screen(old, new, TRICKY + corpus_texts[:5000] + fuzz(5000, args.seed + 1))
        tricky_lines = [json.dumps({"text": t, "url": t, "author": t}).encode() for t in TRICKY]
        tricky_lines += [b"{", b"[]", b"\xff"]
        n_batches = 0
        if not args.no_classifier:
            from listener.tagging import load_tagger

            n_batches = check_import(old, new, lines + tricky_lines, load_tagger(), 500)
    except Differ as exc:
        print(f"DIFFERENT: {exc}")
        return 1
    print(f"identical: {n_texts:,} texts (corpus {len(corpus_texts):,}, tricky {len(TRICKY)}, fuzz {args.fuzz:,}); "
          f"{len(records):,} to_post; screen; {n_batches:,} lines through _prepare_batch (SQLite and PostgreSQL "
          f"rows) — {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
