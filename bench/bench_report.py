"""Benchmark: weekly report and search latency over the store that bench_ingest.py filled (1M posts).

Report: `listener report` as a user runs it (default week, i.e. the last complete one; XLSX,
HTML and charts included), wall time of the whole command, and CPU seconds of the command and
its helper processes (the report forks two). The load average is printed with the table: on a
shared machine wall time says little without it. "first" is the first report on the store
as it is (after bench_ingest.py: as `listener import` left it, with the weekly counts of the
weeks it imported); "again" is the median of the following runs; "cold" (--cold) is one more
run with weekly_counts emptied before it, so that the 12 weeks of the chart are counted from
the posts (a store filled by collectors that never ran a report).

Search: ``listener.search.search`` as `listener search` calls it (query, filters, limit 20,
plus the audit entry), each query run --repeat times on a warm connection; the median in ms.

Examples:
  python bench/bench_report.py                                   # both 1M stores of bench_ingest.py
  python bench/bench_report.py --db sqlite:////tmp/kl/bench_100000.db --repeat 3
  python bench/bench_report.py --db postgresql://postgres@127.0.0.1:5432/bench_1000000 --no-report
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LISTENER = Path(sys.executable).parent / "listener"
DEFAULT_DBS = ["sqlite:////tmp/kl/bench_1000000.db", "postgresql://postgres@127.0.0.1:5432/bench_1000000"]
REPORT_TARGET_S, SEARCH_TARGET_MS = 5.0, 200.0
# (label, query, filters): what analysts type; the last ones are deliberately common words.
QUERIES = [
    ("word", "pinautomaat", {}),
    ("word", "huisarts", {}),
    ("word", "buurtbus", {}),
    ("plural form", "dorpsscholen", {}),
    ("phrase", '"geen opvolger"', {}),
    ("two words", "dorpshuis vrijwilligers", {}),
    ("OR", "basisschool OR dorpsschool", {}),
    ("exclusion", "glasvezel -Emmen", {}),
    ("word + theme", "supermarkt", {"themes": ["voorzieningen"]}),
    ("word + signal", "bibliotheek", {"signals": ["initiatief"]}),
    ("word + since", "station", {"since": "recent"}),
    ("no words, theme", "", {"themes": ["zorg"]}),
    ("common word", "dorp", {}),
    ("common word", "gemeente", {}),
]


def _env() -> dict[str, str]:
    return {**os.environ, "LISTENER_PSEUDONYM_KEY": os.environ.get("LISTENER_PSEUDONYM_KEY", "bench-key-0123456789abcdef")}


def _weekly_counts(db: str, empty: bool = False) -> int:
    """Weeks with rows in weekly_counts (``empty``: delete them, and their stamps, all first)."""
    from sqlalchemy import delete, func, select

    from listener.store.db import open_store, session_scope
    from listener.store.models import WeeklyCount, WeeklyCountStamp

    engine, factory = open_store(db, create=False)
    with session_scope(factory) as s:
        if empty:
            s.execute(delete(WeeklyCount))
            s.execute(delete(WeeklyCountStamp))
        n = s.scalar(select(func.count(func.distinct(WeeklyCount.week)))) or 0
    engine.dispose()
    return n


def report_times(db: str, runs: int, cold: bool = False) -> tuple[float, list[float], str]:
    """Wall seconds of the first report and of the following runs (``cold``: weekly_counts emptied first).

    The detail holds the CPU seconds of each run (the command and its helper processes): on a
    busy machine wall time says little, CPU time says what a quiet one would need.
    """
    weeks = _weekly_counts(db, empty=cold)
    times, cpu = [], []
    with tempfile.TemporaryDirectory(prefix="bench_report_") as tmp:
        cmd = [str(LISTENER), "--db", db, "report", "--out", tmp]
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(cmd, check=True, env=_env(), cwd=tmp, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        sizes = {p.name: p.stat().st_size for p in Path(tmp).iterdir()}
        with open(Path(tmp) / "berichten.csv", encoding="utf-8-sig") as fh:
            rows = sum(1 for _ in fh) - 1
        with open(Path(tmp) / "overzicht.csv", encoding="utf-8-sig") as fh:
            ov = sum(1 for _ in fh) - 1
    detail = (f"CPU s {', '.join(f'{c:.1f}' for c in cpu)}; {weeks} weeks counted before; berichten {rows:,} "
              f"rows, overzicht {ov:,} rows, xlsx {sizes['rapport.xlsx'] / 1e6:.1f} MB")
    return times[0], times[1:], detail


def search_times(db: str, repeat: int) -> list[tuple[str, str, float, int]]:
    """(label, query, median ms, hits) per query of QUERIES."""
    from datetime import timedelta

    from listener.audit import record
    from listener.reports.weeks import last_complete_week
    from listener.search import filters_for_audit, search
    from listener.store.db import open_store, session_scope

    engine, factory = open_store(db, create=False)
    recent = last_complete_week().start - timedelta(weeks=3)
    out = []
    for label, query, filters in QUERIES:
        kw = {k: (recent if v == "recent" else v) for k, v in filters.items()}
        ms, n = [], 0
        for _ in range(repeat + 1):  # the first run warms the cache and is not counted
            started = time.perf_counter()
            with session_scope(factory) as s:
                hits = search(s, query, limit=20, **kw)
                record(s, "search", filters_for_audit(query, **kw), len(hits))
            ms.append((time.perf_counter() - started) * 1000)
            n = len(hits)
        shown = query + "".join(f" --{k.rstrip('s')} {v if not isinstance(v, list) else v[0]}"
                                for k, v in filters.items())
        out.append((label, shown, statistics.median(ms[1:]), n))
    engine.dispose()
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", action="append", help="database URL (repeatable; default: the two 1M stores)")
    ap.add_argument("--runs", type=int, default=3, help="report runs per store, the first included (default 3)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per search query (default 5)")
    ap.add_argument("--no-report", action="store_true", help="only the searches")
    ap.add_argument("--no-search", action="store_true", help="only the report")
    ap.add_argument("--cold", action="store_true",
                    help="one more report run with weekly_counts emptied before it (counted from the posts)")
    args = ap.parse_args(argv)
    dbs = args.db or DEFAULT_DBS
    load_before = os.getloadavg()
    lines = []
    for db in dbs:
        backend = "postgresql" if db.startswith("postgres") else "sqlite"
        # A store filled by an older version gets this version's indexes first (not timed).
        subprocess.run([str(LISTENER), "--db", db, "db", "upgrade"], check=True, env=_env(), stdout=subprocess.DEVNULL)
        if not args.no_report:
            first, again, detail = report_times(db, max(1, args.runs))
            med = statistics.median(again) if again else float("nan")
            verdict = "ok" if max(first, med if again else first) <= REPORT_TARGET_S else "MISSED"
            lines.append((backend, "report (first)", "listener report", f"{first:.2f} s", detail, verdict))
            if again:
                lines.append((backend, "report (again)", "listener report", f"{med:.2f} s", f"median of {len(again)}",
                              "ok" if med <= REPORT_TARGET_S else "MISSED"))
            if args.cold:
                cold, _, detail = report_times(db, 1, cold=True)
                lines.append((backend, "report (cold)", "listener report", f"{cold:.2f} s", detail,
                              "ok" if cold <= REPORT_TARGET_S else "MISSED"))
        if not args.no_search:
            for label, query, ms, n in search_times(db, args.repeat):
                common = label == "common word"
                verdict = "-" if common else ("ok" if ms <= SEARCH_TARGET_MS else "MISSED")
                lines.append((backend, f"search: {label}", query, f"{ms:.0f} ms", f"{n} hits", verdict))
    print(f"{'backend':10s} {'what':24s} {'command / query':38s} {'time':>9s}  {'detail':100s} target")

    for backend, what, query, t, detail, verdict in lines:
        print(f"{backend:10s} {what:24s} {query[:38]:38s} {t:>9s}  {detail[:100]:100s} {verdict}")
    print(f"targets: report under {REPORT_TARGET_S:.0f} s, typical search under {SEARCH_TARGET_MS:.0f} ms "
          "(common words are shown, not judged)")
    # Wall time on a shared machine says little without the load it ran under.
    print("load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}".format(
        *load_before, *os.getloadavg()))


if __name__ == "__main__":
    main()
