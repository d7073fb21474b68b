"""Benchmark: classifier throughput and memory next to spaCy's bare Dutch tokenizer, as one table.

    python bench/bench_classify.py                      # 50,000 posts x 3 runs; memory at 100k and 1M
    python bench/bench_classify.py --posts 20000 --runs 5 --sizes 100000,1000000

Posts come from bench/corpus.py. Every measurement runs in a fresh process, so each row starts from
the same state and reports its own peak memory (resident-set high-water mark):

* speed rows: the posts are generated first (not timed), then the pipeline warms up on 2,000 *other*
  posts and processes the sample once, unseen, as a stream would. Runs alternate tokenizer and
  classifier; the table shows medians. "posts/s (CPU)" counts the process's CPU time, which a busy
  machine disturbs far less than wall time; "time vs tokenizer" is the median over the runs of
  classifier CPU time / tokenizer CPU time. The all-cores row is wall time (that is its point).
* streamed rows: posts go from the generator straight into ``classify_many`` (nothing is held), so
  their posts/s include generating the posts. Peak memory must not grow with the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from corpus import posts

WARMUP_SEED = 99  # warm-up posts differ from the measured ones


def _peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _measure(kind: str, n: int, processes: int) -> dict:
    """One measurement in this (fresh) process; the parent reads the JSON it prints."""
    import spacy

    if kind == "stream":
        from classifiers import Classifier

        clf = Classifier()
        start, cpu = time.perf_counter(), time.process_time()
        count = sum(1 for _ in clf.classify_many(posts(n), batch_size=512))
        return {"n": count, "seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                "peak_mb": _peak_mb(), "version": clf.version}
    sample = list(posts(n))
    warm = list(posts(2000, seed=WARMUP_SEED))
    if kind == "tokenizer":
        nlp = spacy.blank("nl")
        run = lambda texts: nlp.pipe(texts, batch_size=512)
    else:
        from classifiers import Classifier

        clf = Classifier()
        run = lambda texts: clf.classify_many(texts, batch_size=512, n_process=processes)
    sum(1 for _ in run(warm))
    version = clf.version if kind != "tokenizer" else None
    start, cpu = time.perf_counter(), time.process_time()
    count = sum(1 for _ in run(sample))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert count == n, (kind, count, n)
    out = {"n": n, "seconds": wall, "cpu": cpu, "peak_mb": _peak_mb(), "version": version}
    if processes > 1:
        out["cpu"] += resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime  # the workers' share
        out["children_peak_mb"] = _peak_mb(resource.RUSAGE_CHILDREN)
    return out


def _child(kind: str, n: int, processes: int = 1) -> dict:
    cmd = [sys.executable, __file__, "--measure", kind, "--posts", str(n), "--processes", str(processes)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--posts", type=int, default=50_000, help="posts in the speed sample (default 50,000)")
    parser.add_argument("--runs", type=int, default=3, help="speed runs per row; medians are shown (default 3)")
    parser.add_argument("--sizes", default="100000,1000000",
                        help="comma-separated corpus sizes streamed for the memory rows ('' to skip)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="processes for the all-cores row (default: all cores)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(_measure(args.measure, args.posts, args.processes)))
        return

    n = args.posts
    words = sum(len(t.split()) for t in posts(2000)) / 2000
    tok, one, ratios = [], [], []
    for _ in range(args.runs):
        t, c = _child("tokenizer", n), _child("classifier", n)
        tok.append(t)
        one.append(c)
        ratios.append(c["cpu"] / t["cpu"])
    multi = [_child("classifier", n, args.processes) for _ in range(args.runs)] if args.processes > 1 else []
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    streamed = [(size, _child("stream", size)) for size in sizes]

    def rate(rows: list[dict], key: str) -> str:
        return f"{statistics.median(r['n'] / r[key] for r in rows):,.0f}"

    def peak(rows: list[dict]) -> str:
        mb = max(r["peak_mb"] for r in rows)
        kids = max((r.get("children_peak_mb", 0) for r in rows), default=0)
        return f"{mb:,.0f}" + (f" + {kids:,.0f}/worker" if kids else "")

    table = [("spaCy blank('nl') tokenizer, 1 core", f"{n:,}", rate(tok, "seconds"), rate(tok, "cpu"), "1.00",
              peak(tok)),
             ("classifier, 1 core", f"{n:,}", rate(one, "seconds"), rate(one, "cpu"),
              f"{statistics.median(ratios):.2f}", peak(one))]
    if multi:
        table.append((f"classifier, {args.processes} processes", f"{n:,}", rate(multi, "seconds"), "-", "-",
                      peak(multi)))
    for size, row in streamed:
        table.append(("classifier, streamed (incl. generating)", f"{size:,}", rate([row], "seconds"),
                      rate([row], "cpu"), "-", f"{row['peak_mb']:,.0f}"))
    version = (one or [r for _, r in streamed])[0]["version"]
    from classifiers import compiled_modules

    compiled = compiled_modules()
    accel = f"Cython-compiled ({len(compiled)} modules)" if compiled else "pure Python"
    print(f"classifier {version}, {accel}; posts from bench/corpus.py, {words:.0f} words on average; "
          f"{args.runs} runs (medians); {os.cpu_count()} cores")
    print(f"{'':40s} {'posts':>10s} {'posts/s':>9s} {'posts/s':>9s} {'time vs':>10s} {'peak RSS':>20s}")
    print(f"{'':40s} {'':>10s} {'(wall)':>9s} {'(CPU)':>9s} {'tokenizer':>10s} {'MB':>20s}")
    for label, count, wall, cpu, ratio, mb in table:
        print(f"{label:40s} {count:>10s} {wall:>9s} {cpu:>9s} {ratio:>10s} {mb:>20s}")
    # the classifier's CPU time varies more between processes than the tokenizer's: show every pair
    print("time vs tokenizer per run: " + ", ".join(f"{r:.2f}" for r in ratios)
          + f" (tokenizer CPU s {min(r['cpu'] for r in tok):.3f}-{max(r['cpu'] for r in tok):.3f}, "
          f"classifier {min(r['cpu'] for r in one):.3f}-{max(r['cpu'] for r in one):.3f})")

if __name__ == "__main__":
    main()
