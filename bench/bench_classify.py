"""Benchmark: posts/s of the classifier (one core and all cores) next to spaCy's bare Dutch tokenizer.

Usage: python bench/bench_classify.py [N_POSTS]   (default 20,000; posts from bench/corpus.py)
Prints one table. Peak memory is the resident-set high-water mark of this process (and of the
worker pool for the all-cores row).
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus import posts  # noqa: E402


def _peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _run(label: str, fn, n: int) -> tuple[str, float, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    count = sum(1 for _ in fn())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert count == n, (label, count)
    if "processes" in label:
        cpu = 0.0  # the work happens in the children; their CPU time is not this process's
    return label, n / wall, n / cpu if cpu else float("nan"), _peak_mb()


def main() -> None:
    import spacy

    from classifiers import Classifier

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    corpus = list(posts(n))
    words = sum(len(t.split()) for t in corpus) / n
    bare = spacy.blank("nl")
    clf = Classifier()
    list(clf.classify_many(corpus[:2000]))  # warm caches the same way for both
    list(bare.pipe(corpus[:2000]))
    cores = os.cpu_count() or 1
    rows = [
        _run("spaCy blank('nl') tokenizer, 1 core", lambda: bare.pipe(corpus, batch_size=512), n),
        _run("classifier, 1 core", lambda: clf.classify_many(corpus, batch_size=512), n),
    ]
    if cores > 1:
        rows.append(_run(f"classifier, {cores} processes", lambda: clf.classify_many(corpus, batch_size=512,
                                                                                     n_process=cores), n))
    print(f"{n:,} posts, {words:.0f} words on average, classifier {clf.version}")
    print(f"{'':40s} {'posts/s (wall)':>15s} {'posts/s (cpu)':>14s} {'peak MB':>8s}")
    for label, wall, cpu, mb in rows:
        print(f"{label:40s} {wall:15,.0f} {cpu:14,.0f} {mb:8.0f}")
    ratio = rows[0][1] / rows[1][1]
    print(f"{'classifier / tokenizer time (1 core)':40s} {ratio:15.1f}x   children peak {_peak_mb(resource.RUSAGE_CHILDREN):.0f} MB")


if __name__ == "__main__":
    main()
