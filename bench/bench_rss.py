"""Benchmark: 500 RSS feeds on a local server that answers every request after 200 ms.

Runs the real run loop (``listener.pipeline.Pipeline``) twice on a fresh SQLite store: a first
run that fetches, parses and stores everything, and a second run in which every feed answers
304 Not Modified. Targets on a 2-core machine: first run < 15 s, 304 run < 5 s.

    .venv/bin/python bench/bench_rss.py                      # 500 feeds, 200 ms, concurrency 32
    .venv/bin/python bench/bench_rss.py --concurrency 8      # the default setting, for comparison
    .venv/bin/python bench/bench_rss.py --mode collector     # the collector alone in a thread pool

The server runs in its own process so that its threads do not compete with the collectors
for the GIL; the delay is a sleep per request, as a slow but healthy feed host would behave.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ITEM = """<item><title>Bericht {i}-{j}: dorpshuis {j} in gemeente {i} zoekt vrijwilligers</title>
<link>https://bench.example/feed{i}/item{j}</link><guid isPermaLink="false">f{i}-i{j}</guid>
<description><![CDATA[<p>De school in dorp {j} sluit misschien. Inwoners van gemeente {i} praten op
{d} maart mee over leegstand, de bus en de huisarts.</p>]]></description>
<pubDate>Mon, 0{d} Mar 2026 0{d}:{m:02d}:00 +0100</pubDate></item>"""


def feed_body(i: int, items: int) -> bytes:
    entries = "\n".join(ITEM.format(i=i, j=j, d=1 + j % 9, m=j % 60) for j in range(items))
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Feed {i}</title>'
            f"<link>https://bench.example/feed{i}</link><description>Bench</description>\n{entries}\n"
            "</channel></rss>").encode("utf-8")


def serve(port_q: "mp.Queue[int]", n_feeds: int, items: int, delay: float) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bodies = {f"/feed/{i}.xml": feed_body(i, items) for i in range(n_feeds)}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            time.sleep(delay)
            body = bodies.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            etag = f'"{self.path}-v1"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", "Mon, 02 Mar 2026 08:00:00 GMT")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    httpd = Server(("127.0.0.1", 0), Handler)
    port_q.put(httpd.server_address[1])
    httpd.serve_forever(poll_interval=0.1)


def run_pipeline(url: str, args: argparse.Namespace) -> list[tuple[str, float, str]]:
    from listener.config import parse_config
    from listener.pipeline import Pipeline
    from listener.store.db import open_store

    tmp = Path(tempfile.mkdtemp(prefix="bench_rss_"))
    os.environ.setdefault("LISTENER_PSEUDONYM_KEY", "bench-key-0123456789abcdef")
    data = {
        "settings": {"concurrency": args.concurrency, "timeout_s": 20, "batch_size": 500},
        "sources": [{"id": f"feed-{i}", "kind": "rss", "url": f"{url}/feed/{i}.xml", "languages": []}
                    for i in range(args.feeds)],
    }
    cfg = parse_config(data, tmp / "sources.yaml")
    engine, factory = open_store(f"sqlite:///{tmp / 'bench.db'}")
    tagger = None
    if args.tagger:
        from listener.tagging import load_tagger

        tagger = load_tagger()
    rows = []
    for label in ("first run (200)", "second run (304)"):
        t0 = time.perf_counter()
        summary = Pipeline(cfg, factory, tagger=tagger).run(only_due=False)
        wall = time.perf_counter() - t0
        by_status: dict[str, int] = {}
        for r in summary.results:
            by_status[r.status] = by_status.get(r.status, 0) + 1
        new = sum(r.new for r in summary.results)
        rows.append((label, wall, f"{by_status} new={new}"))
    engine.dispose()
    return rows


def run_collector(url: str, args: argparse.Namespace) -> list[tuple[str, float, str]]:
    from listener.collectors.base import CollectContext
    from listener.collectors.rss import RssCollector, RssSource
    from listener.models import Checkpoint, CursorState, Post

    os.environ.setdefault("LISTENER_PSEUDONYM_KEY", "bench-key-0123456789abcdef")
    coll = RssCollector(CollectContext())
    sources = [RssSource(id=f"feed-{i}", kind="rss", url=f"{url}/feed/{i}.xml") for i in range(args.feeds)]
    states = {s.id: CursorState() for s in sources}

    def one(s: RssSource) -> tuple[int, Checkpoint | None]:
        n, cp = 0, None
        for item in coll.collect(s, states[s.id]):
            if isinstance(item, Post):
                n += 1
            elif isinstance(item, Checkpoint):
                cp = item
        return n, cp

    rows = []
    for label in ("first run (200)", "second run (304)"):
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            results = list(pool.map(one, sources))
        wall = time.perf_counter() - t0
        for s, (_, cp) in zip(sources, results):
            if cp and cp.etag:
                states[s.id] = CursorState(etag=cp.etag, last_modified=cp.last_modified)
        posts = sum(n for n, _ in results)
        not_mod = sum(1 for _, cp in results if cp and cp.not_modified)
        rows.append((label, wall, f"posts={posts} not_modified={not_mod}"))
    coll.close()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--items", type=int, default=20, help="entries per feed")
    ap.add_argument("--delay", type=float, default=0.2, help="seconds before each answer")
    ap.add_argument("--concurrency", type=int, default=32, help="settings.concurrency (1-64)")
    ap.add_argument("--mode", choices=("pipeline", "collector"), default="pipeline")
    ap.add_argument("--tagger", action="store_true", help="classify with the real Dutch classifier too")
    args = ap.parse_args()

    ctx = mp.get_context("spawn")
    port_q: mp.Queue[int] = ctx.Queue()
    proc = ctx.Process(target=serve, args=(port_q, args.feeds, args.items, args.delay), daemon=True)
    proc.start()
    try:
        url = f"http://127.0.0.1:{port_q.get(timeout=30)}"
        rows = run_pipeline(url, args) if args.mode == "pipeline" else run_collector(url, args)
    finally:
        proc.terminate()
        proc.join(5)
    floor = args.feeds * args.delay / args.concurrency
    targets = {"first run (200)": 15.0, "second run (304)": 5.0}
    print(f"\nbench_rss: {args.feeds} feeds x {args.items} entries, {args.delay * 1000:.0f} ms per answer, "
          f"concurrency {args.concurrency}, mode {args.mode}{' + tagger' if args.tagger else ''}, "
          f"{os.cpu_count()} CPUs; waiting alone needs >= {floor:.1f} s")
    print(f"{'run':<18} {'wall s':>7} {'target s':>9} {'ok':>3}  result")
    ok_all = True
    for label, wall, detail in rows:
        ok = wall < targets[label]
        ok_all &= ok
        print(f"{label:<18} {wall:>7.2f} {targets[label]:>9.1f} {'yes' if ok else 'NO':>3}  {detail}")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
