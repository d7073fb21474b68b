"""Benchmark: 500 RSS feeds on 100 local hosts that answer every request after 200 ms.

Runs the real run loop (``listener.pipeline.Pipeline``, what ``listener run --once --all`` runs)
twice on a fresh store: a first run that fetches, parses, classifies and stores everything, and
a second run in which every feed answers 304 Not Modified. Targets on a 2-core machine: first
run < 15 s, 304 run < 5 s. Each configuration is repeated on a fresh store; the table shows
medians (and the spread). Prints one table. The feeds are spread over ``--hosts`` local servers
(one port each), as 500 local feeds live on many sites; the run loop sends at most
``settings.per_host`` (default 4) requests to one host at a time.

    .venv/bin/python bench/bench_rss.py                           # SQLite and PostgreSQL, classifier on and off
    .venv/bin/python bench/bench_rss.py --backend sqlite --classifier off --repeat 1
    .venv/bin/python bench/bench_rss.py --concurrency 8           # override settings.concurrency
    .venv/bin/python bench/bench_rss.py --profile /tmp/prof       # pyinstrument of the run-loop thread

"classifier on" loads the Dutch classifier as ``listener run`` does (its load time is not part
of the run; it is printed above the table); "off" is ``LISTENER_CLASSIFIER=off``: posts are
stored untagged. PostgreSQL runs in a scratch database on ``--pg-url`` that is dropped
afterwards. The server runs in its own process so that its threads do not compete with the
collectors for the GIL; the delay is a sleep per request, as a slow but healthy feed host would
behave.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PG_URL = os.environ.get("LISTENER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGETS = {"first": 15.0, "304": 5.0}

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


def serve(port_q: "mp.Queue[list[int]]", n_feeds: int, items: int, delay: float, hosts: int) -> None:
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

    # One listening socket per feed host: the run loop caps the requests per host (settings.per_host).
    servers = [Server(("127.0.0.1", 0), Handler) for _ in range(hosts)]
    for httpd in servers[1:]:
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    port_q.put([httpd.server_address[1] for httpd in servers])
    servers[0].serve_forever(poll_interval=0.1)


class Store:
    """A fresh database per repetition: an SQLite file, or a scratch PostgreSQL database."""

    def __init__(self, backend: str, pg_url: str) -> None:
        self.backend = backend
        self.pg_url = pg_url
        self.name: str | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix="bench_rss_"))

    def url(self) -> str:
        if self.backend == "sqlite":
            db = self.tmp / f"bench-{uuid.uuid4().hex[:6]}.db"
            return f"sqlite:///{db}"
        from sqlalchemy import create_engine, text

        self.drop()
        self.name = f"bench_rss_{uuid.uuid4().hex[:10]}"
        admin = create_engine(self.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        admin.dispose()
        return self.pg_url.rsplit("/", 1)[0] + f"/{self.name}"

    def drop(self) -> None:
        if self.name is None:
            return
        from sqlalchemy import create_engine, text

        admin = create_engine(self.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        admin.dispose()
        self.name = None


def one_repetition(urls: list[str], args: argparse.Namespace, backend: str, tagger: Any, rep: int) -> dict[str, Any]:
    """Both runs on a fresh store; wall seconds, statuses and posts stored."""
    from sqlalchemy import func, select

    from listener.config import parse_config
    from listener.pipeline import Pipeline
    from listener.store.db import open_store, session_scope
    from listener.store.models import Post as PostRow

    store = Store(backend, args.pg_url)
    tmp = store.tmp
    settings = {"concurrency": args.concurrency} if args.concurrency else {}
    data = {
        "settings": settings,
        "sources": [{"id": f"feed-{i}", "kind": "rss", "url": f"{urls[i % len(urls)]}/feed/{i}.xml",
                     "languages": []}
                    for i in range(args.feeds)],
    }
    cfg = parse_config(data, tmp / "sources.yaml")
    engine, factory = open_store(store.url())
    out: dict[str, Any] = {"concurrency": f"{cfg.settings.concurrency}/{cfg.settings.per_host}"}
    try:
        for run in ("first", "304"):
            profiler = _profiler(args)
            t0, cpu0 = time.perf_counter(), _cpu()
            summary = Pipeline(cfg, factory, tagger=tagger).run(only_due=False)  # `listener run --once --all`
            wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
            if profiler is not None:
                profiler.stop()
                name = f"{backend}-{'on' if tagger else 'off'}-{run}-{rep}.txt"
                Path(args.profile, name).write_text(profiler.output_text(unicode=True, show_all=False))
            statuses: dict[str, int] = {}
            for r in summary.results:
                statuses[r.status] = statuses.get(r.status, 0) + 1
            out[run] = wall
            out[f"{run}_cpu"] = cpu
            out[f"{run}_status"] = statuses
        with session_scope(factory) as s:
            out["posts"] = s.scalar(select(func.count()).select_from(PostRow))
    finally:
        engine.dispose()
        store.drop()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _cpu() -> float:
    """CPU seconds of this process (all its threads) and of any children it has waited for."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _profiler(args: argparse.Namespace) -> Any:
    if not args.profile:
        return None
    from pyinstrument import Profiler

    Path(args.profile).mkdir(parents=True, exist_ok=True)
    p = Profiler(interval=0.002)
    p.start()
    return p


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--items", type=int, default=20, help="entries per feed")
    ap.add_argument("--delay", type=float, default=0.2, help="seconds before each answer")
    ap.add_argument("--hosts", type=int, default=100,
                    help="feed hosts (ports) the feeds are spread over; at most settings.per_host requests go "
                         "to one host at a time (default 100: 5 feeds per host)")
    ap.add_argument("--concurrency", type=int, default=None,
                    help="settings.concurrency (1-64); default: the built-in default")
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--classifier", choices=("on", "off", "both"), default="both")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions per configuration (medians shown)")
    ap.add_argument("--pg-url", default=PG_URL, help="an existing PostgreSQL database to create scratch ones from")
    ap.add_argument("--profile", metavar="DIR", help="write a pyinstrument profile of each run here")
    args = ap.parse_args()
    os.environ.setdefault("LISTENER_PSEUDONYM_KEY", "bench-key-0123456789abcdef")

    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    classifiers = ("off", "on") if args.classifier == "both" else (args.classifier,)

    ctx = mp.get_context("spawn")
    port_q: mp.Queue[int] = ctx.Queue()
    proc = ctx.Process(target=serve, args=(port_q, args.feeds, args.items, args.delay, args.hosts), daemon=True)
    proc.start()
    load_before = _load()
    rows = []
    notes = []
    try:
        urls = [f"http://127.0.0.1:{port}" for port in port_q.get(timeout=30)]
        for clf in classifiers:
            tagger = None
            if clf == "on":
                from listener.tagging import load_tagger

                t0 = time.perf_counter()
                tagger = load_tagger()
                notes.append(f"classifier {tagger.version} loaded in {time.perf_counter() - t0:.1f} s "
                             "(before the run, as `listener run` does; not in the figures)")
            for backend in backends:
                reps = [one_repetition(urls, args, backend, tagger, i) for i in range(args.repeat)]
                rows.append((backend, clf, reps))
    finally:
        proc.terminate()
        proc.join(5)

    print(f"\nbench_rss: {args.feeds} feeds x {args.items} entries on {args.hosts} hosts, "
          f"{args.delay * 1000:.0f} ms per answer, "
          f"{os.cpu_count()} CPUs, {args.repeat} repetitions (median [min-max]; cpu s = CPU time the run used); "
          f"load average before {load_before}, after {_load()}")
    for n in notes:
        print(n)
    head = (f"{'backend':<10} {'classifier':<10} {'feeds':>5} {'latency':>7} {'conc./host':>10} "
            f"{'first run s':>18} {'(cpu s)':>7} {'304 run s':>16} {'(cpu s)':>7} {'posts stored':>12} "
            f"{'target s':>10} {'result':>6}")
    print(head)
    print("-" * len(head))
    ok_all = True
    for backend, clf, reps in rows:
        first = [r["first"] for r in reps]
        nm = [r["304"] for r in reps]
        posts = statistics.median(r["posts"] for r in reps)
        bad = [r for r in reps if set(r["304_status"]) != {"not_modified"}
               or set(r["first_status"]) != {"ok"}]
        ok = statistics.median(first) < TARGETS["first"] and statistics.median(nm) < TARGETS["304"] and not bad
        ok_all &= ok
        print(f"{backend:<10} {clf:<10} {args.feeds:>5} {args.delay * 1000:>5.0f}ms {reps[0]['concurrency']:>10} "
              f"{_fmt(first):>18} {_med(reps, 'first_cpu'):>7.1f} {_fmt(nm):>16} {_med(reps, '304_cpu'):>7.1f} "
              f"{posts:>12.0f} {'<15 / <5':>10} {'pass' if ok else 'FAIL':>6}")
        for r in bad:
            print(f"  unexpected statuses: first {r['first_status']}, 304 {r['304_status']}")
    return 0 if ok_all else 1


def _med(reps: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in reps)


def _fmt(values: list[float]) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.2f}"
    return f"{med:.2f} [{min(values):.1f}-{max(values):.1f}]"


if __name__ == "__main__":
    sys.exit(main())
