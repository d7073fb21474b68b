"""Write a deterministic corpus of realistic Dutch posts as JSONL (for `listener import`) and/or RSS files.

The posts (15-60 words) mix the eleven themes, problem and initiative signals, places from the
gazetteer (a few places get most posts, as in real life), regions, everyday noise, hashtags,
URLs, e-mail addresses and phone numbers (masked on import), distractors that look relevant
but are not, a few posts in other languages, and reposts of the same text under another id.
Every post has an external id and a created_at spread over WEEKS ISO weeks ending with the last
complete week (or --end-week), so that `listener report` finds data. The same --n, --seed and
--end-week always give the same bytes; the first k posts of a corpus of n are the corpus of k.

Examples:
  python bench/make_corpus.py --n 1000000 --jsonl /tmp/kl/posts_1m.jsonl
  python bench/make_corpus.py --n 5000 --rss-dir /tmp/kl/feeds --items-per-feed 250
  python bench/make_corpus.py --n 100000 --jsonl /tmp/kl/posts_100k.jsonl --end-week 2026-W47
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Iterable
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import records  # noqa: E402


def write_jsonl(rows: Iterable[dict[str, Any]], path: Path) -> int:
    """One JSON object per line; returns the number written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def _item(row: dict[str, Any]) -> str:
    text = row["text"]
    cut = text.find(". ")
    title, body = (text[: cut + 1], text[cut + 2:]) if 0 < cut < 120 else (text[:80], text)
    when = format_datetime(datetime.fromisoformat(row["created_at"]))
    return (f"<item><title>{escape(title)}</title><link>{escape(row['url'])}</link>"
            f"<guid isPermaLink=\"false\">{escape(row['external_id'])}</guid><pubDate>{when}</pubDate>"
            f"<description>{escape(body)}</description></item>\n")


def write_rss(rows: Iterable[dict[str, Any]], out_dir: Path, per_feed: int) -> int:
    """RSS 2.0 files of ``per_feed`` items each (feed_00000.xml, …); returns the number of files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files, fh, in_feed = 0, None, 0

    def close() -> None:
        if fh is not None:
            fh.write("</channel></rss>\n")
            fh.close()

    for row in rows:
        if fh is None or in_feed == per_feed:
            close()
            fh = (out_dir / f"feed_{files:05d}.xml").open("w", encoding="utf-8")
            fh.write('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
                     f"<title>Benchmarkfeed {files}</title><link>https://example.org/feed/{files}</link>"
                     "<description>Gegenereerde berichten voor de benchmark</description><language>nl</language>\n")
            files, in_feed = files + 1, 0
        fh.write(_item(row))
        in_feed += 1
    close()
    return files


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="number of posts (default 100,000)")
    ap.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    ap.add_argument("--end-week", metavar="YYYY-Www", help="last week with posts (default: the last complete week)")
    ap.add_argument("--weeks", type=int, default=16, help="weeks the posts are spread over (default 16)")
    ap.add_argument("--jsonl", type=Path, metavar="FILE", help="write the posts as JSONL here")
    ap.add_argument("--rss-dir", type=Path, metavar="DIR", help="write the posts as RSS 2.0 files here")
    ap.add_argument("--items-per-feed", type=int, default=500, help="items per RSS file (default 500)")
    args = ap.parse_args(argv)
    if not args.jsonl and not args.rss_dir:
        ap.error("give --jsonl FILE and/or --rss-dir DIR")
    started = time.perf_counter()
    rows = ["posts", "seconds", "output"]
    out: list[tuple[int, float, str]] = []
    if args.jsonl:
        n = write_jsonl(records(args.n, args.seed, args.end_week, args.weeks), args.jsonl)
        out.append((n, time.perf_counter() - started, str(args.jsonl)))
    if args.rss_dir:
        t = time.perf_counter()
        files = write_rss(records(args.n, args.seed, args.end_week, args.weeks), args.rss_dir, args.items_per_feed)
        out.append((args.n, time.perf_counter() - t, f"{args.rss_dir}/ ({files} feeds)"))
    print(f"{rows[0]:>10s} {rows[1]:>8s}  {rows[2]}")
    for n, secs, where in out:
        print(f"{n:10,d} {secs:8.1f}  {where}")


if __name__ == "__main__":
    main()
