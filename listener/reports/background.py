"""Work for the report in a forked process: charts and the workbook overlap with the tables.

Importing matplotlib and drawing take seconds whatever the size of the store, and writing
rapport.xlsx takes as long as writing all CSVs; on a machine with two cores each can run
beside the rest of the report. Without fork (or without a process to spare) the work is
done in this process when its result is asked for.
"""

from __future__ import annotations

import logging
import multiprocessing
from typing import Any, Callable, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def start(fn: Callable[..., T], *args: Any) -> Callable[[], T]:
    """Run ``fn(*args)`` in a forked process; the returned function waits for and returns its result."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return lambda: fn(*args)
    try:
        pool = multiprocessing.get_context("fork").Pool(1)
    except OSError as exc:
        log.info("no second process for the report (%s); working in this one", exc)
        return lambda: fn(*args)
    pending = pool.apply_async(fn, args)
    pool.close()  # the worker exits once it is done, even when nobody asks for the result

    def result() -> T:
        try:
            return pending.get()
        finally:
            pool.terminate()
            pool.join()

    return result
