"""Benchmark: `listener import` of a JSONL corpus (clean → classify → store) into SQLite and PostgreSQL.

Each size runs the real command in a fresh database and measures wall time, posts/s (lines
read per second), CPU seconds of the whole process tree, and peak memory: the largest sum of
PSS (proportional set size, so pages the forked workers share are counted once) over the
importing process and its workers, sampled every 0.2 s ("(main)": the importing process alone). Memory must stay flat as the corpus
grows: compare the 100k and 1M rows.

The corpus is bench/make_corpus.py's (generated when missing); a smaller size is its first
lines. The 1M databases are kept for bench_report.py: sqlite:///WORKDIR/bench_1000000.db and
postgresql://postgres@127.0.0.1:5432/bench_1000000.

Examples:
  python bench/bench_ingest.py                                  # 100k and 1M, SQLite and PostgreSQL
  python bench/bench_ingest.py --sizes 100000 --backends sqlite --workers 1
  python bench/bench_ingest.py --sizes 1000000 --backends postgresql --pg postgresql://postgres@db:5432/postgres
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LISTENER = Path(sys.executable).parent / "listener"
TARGET_S = {"sqlite": 240.0, "postgresql": 360.0}  # for 1M posts on the 2-core machine
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def _children(pid: int) -> list[int]:
    out = [pid]
    for p in out:
        try:
            out += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            pass
    return out


def _pss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            m = re.search(r"^Pss:\s+(\d+) kB", Path(f"/proc/{pid}/smaps_rollup").read_text(), re.MULTILINE)
        except OSError:
            continue
        total += int(m.group(1)) if m else 0
    return total / 1024


def run_import(db_url: str, corpus: Path, workers: int | None, workdir: Path) -> dict[str, float | str]:
    """Run `listener import` once; wall, CPU, peak PSS and the command's summary line."""
    cmd = [str(LISTENER), "--db", db_url, "import", str(corpus)] + (["--workers", str(workers)] if workers else [])
    env = {**os.environ, "LISTENER_PSEUDONYM_KEY": os.environ.get("LISTENER_PSEUDONYM_KEY", "bench-key-0123456789abcdef")}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = peak_main = 0.0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        pids = _children(proc.pid)
        main_mb = _pss_mb(pids[:1])
        peak, peak_main = max(peak, main_mb + _pss_mb(pids[1:])), max(peak_main, main_mb)
        time.sleep(0.2)
    wall = time.perf_counter() - started
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {code}:\n{err[-2000:]}")
    stored = re.search(r"(\d+) posts stored", out)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak": peak, "peak_main": peak_main,
            "stored": int(stored.group(1)) if stored else -1, "command": " ".join(cmd)}


def fresh_db(backend: str, size: int, workdir: Path, pg_admin: str) -> str:
    """An empty database for one run: a new SQLite file, or a PostgreSQL database made anew."""
    name = f"bench_{size}"
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{workdir / name}.db{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{workdir / name}.db"
    from sqlalchemy import create_engine, text

    admin = create_engine(pg_admin.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg_admin.rsplit("/", 1)[0] + f"/{name}"


def corpus_of(size: int, full: Path, workdir: Path) -> Path:
    """The first ``size`` lines of the corpus (the corpus itself when it has exactly that many)."""
    if not full.exists():
        subprocess.run([sys.executable, str(REPO / "bench" / "make_corpus.py"), "--n", str(size), "--jsonl", str(full)],
                       check=True, stdout=subprocess.DEVNULL)
    part = workdir / f"corpus_{size}.jsonl"
    with full.open("rb") as src:
        n = sum(1 for _ in itertools.islice(src, size + 1))
    if n == size:
        return full
    if n < size:
        raise SystemExit(f"{full} has only {n} lines; regenerate it with --n {size} or more")
    if not part.exists() or part.stat().st_mtime < full.stat().st_mtime:
        with full.open("rb") as src, part.open("wb") as dst:
            dst.writelines(itertools.islice(src, size))
    return part


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated corpus sizes (default 100000,1000000)")
    ap.add_argument("--backends", default="sqlite,postgresql", help="sqlite, postgresql or both (default both)")
    ap.add_argument("--corpus", type=Path, help="JSONL corpus (default WORKDIR/posts_<largest size>.jsonl, made if missing)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/kl"), help="corpora and SQLite files (default /tmp/kl)")
    ap.add_argument("--workers", type=int, help="`listener import --workers` (default: its own default, one per CPU)")
    ap.add_argument("--pg", default=PG_ADMIN, help=f"PostgreSQL URL whose server gets the bench databases (default {PG_ADMIN})")
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    backends = ["sqlite", "postgresql"] if args.backends.strip() == "both" else \
        [b.strip() for b in args.backends.split(",")]
    unknown = set(backends) - set(TARGET_S)
    if unknown:
        ap.error(f"--backends: unknown {', '.join(sorted(unknown))} (sqlite, postgresql or both)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    full = args.corpus or args.workdir / f"posts_{sizes[-1]}.jsonl"
    rows = []
    for backend in backends:
        for size in sizes:
            corpus = corpus_of(size, full, args.workdir)
            r = run_import(fresh_db(backend, size, args.workdir, args.pg), corpus, args.workers, args.workdir)
            print(f"# {r['command']}", file=sys.stderr)
            rows.append((backend, size, r))
    print(f"{'backend':10s} {'posts':>9s} {'stored':>9s} {'wall s':>8s} {'posts/s':>8s} {'CPU s':>8s} "
          f"{'peak MB':>8s} {'(main)':>7s} {'1M target':>10s}")
    for backend, size, r in rows:
        projected = r["wall"] * 1_000_000 / size
        verdict = f"{'ok' if projected <= TARGET_S[backend] else 'MISSED'} {TARGET_S[backend]:.0f}s"
        print(f"{backend:10s} {size:9,d} {r['stored']:9,d} {r['wall']:8.1f} {size / r['wall']:8,.0f} {r['cpu']:8.1f} "
              f"{r['peak']:8.0f} {r['peak_main']:7.0f} {verdict:>10s}")


if __name__ == "__main__":
    main()
