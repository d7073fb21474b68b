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


class Worker:
    """One forked process, forked now (``prepare`` runs in it at once), given jobs later (``run``: the last).

    Forking early lets the process import what the job needs (matplotlib) while this one reads
    the database; the job's arguments are then sent to it (keep them small). Fork late
    (``fork_call``) when the arguments are large: a forked process has them without copying.
    """

    def __init__(self, prepare: Callable[[], None] | None = None) -> None:
        self._pool: Any = None
        if "fork" not in multiprocessing.get_all_start_methods():
            return
        try:
            self._pool = multiprocessing.get_context("fork").Pool(1, initializer=prepare)
        except OSError as exc:
            log.info("no second process for the report (%s); working in this one", exc)

    def submit(self, fn: Callable[..., T], *args: Any) -> Callable[[], T]:
        """Queue ``fn(*args)`` in the process (jobs run in order); the returned function waits for its result."""
        if self._pool is None:
            return lambda: fn(*args)
        pending = self._pool.apply_async(fn, args)
        return pending.get

    def run(self, fn: Callable[..., T], *args: Any) -> Callable[[], T]:
        """Queue the last job ``fn(*args)``; the returned function waits for its result, then ends the process."""
        pool, self._pool = self._pool, None
        if pool is None:
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

    def close(self) -> None:
        """Stop the process if it was never given a job (the report failed before)."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


def fork_call(fn: Callable[..., T], *args: Any) -> Callable[[], T]:
    """Run ``fn(*args)`` in a process forked now, which has the arguments without their being
    pickled (large tables); the returned function waits for the (small) result and returns it,
    or raises the process's error. Without fork, ``fn`` runs when its result is asked for."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return lambda: fn(*args)
    ctx = multiprocessing.get_context("fork")
    here, there = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_call_and_send, args=(there, fn, args))
    try:
        proc.start()
    except OSError as exc:
        log.info("no second process for the report (%s); working in this one", exc)
        return lambda: fn(*args)
    there.close()

    def result() -> T:
        try:
            ok, value = here.recv()
        except EOFError:
            raise RuntimeError(f"a report process ended unexpectedly (exit code {proc.exitcode})") from None
        finally:
            here.close()
            proc.join()
        if not ok:
            raise value
        return value

    return result


def _call_and_send(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        conn.send((True, fn(*args)))
    except BaseException as exc:  # noqa: BLE001 - raised in the other process
        _send_error(conn, exc)
    finally:
        conn.close()


def _send_error(conn: Any, exc: BaseException) -> None:
    try:
        conn.send((False, exc))
    except Exception:  # noqa: BLE001 - an exception that cannot be pickled
        conn.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


class Coroutine:
    """A generator run in a forked process, step by step: ``get()`` its values, ``put(value)`` to send one in.

    The report splits in two halves that each read the database: this one counts while the
    forked one builds the post tables, and they exchange small results (a summary, the
    overzicht table for the workbook) at fixed points. The forked process makes its first
    step at once, and each later step as soon as a value is put. ``after_fork`` runs first in the forked
    process (drop the inherited database connections). Without fork the generator runs here,
    each step when it is asked for, with the same results.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, after_fork: Callable[[], None] | None = None) -> None:
        self._proc: Any = None
        self._conn: Any = None
        self._gen: Any = None
        self._stepped = False
        self._pending: Any = None
        if "fork" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("fork")
            try:
                here, there = ctx.Pipe()
                # Not a daemon: the generator may fork a process of its own (background.fork_call). It
                # ends when this side's end of the pipe closes, also when this process dies.
                self._proc = ctx.Process(target=_step_loop, args=(there, here, fn, args, after_fork))
                self._proc.start()
                there.close()
                self._conn = here
                return
            except OSError as exc:
                log.info("no second process for the report (%s); working in this one", exc)
                self._proc = None
        self._gen = fn(*args)

    def put(self, value: Any) -> None:
        """Send ``value`` into the generator (after its first value) without waiting for the next one."""
        if self._proc is None:
            self._pending = value
        else:
            self._conn.send(value)

    def get(self) -> Any:
        """The generator's first value, or what it yields after the last ``put``."""
        if self._proc is None:
            if self._stepped:
                return self._gen.send(self._pending)
            self._stepped = True
            return next(self._gen)
        try:
            ok, result = self._conn.recv()
        except EOFError:
            raise RuntimeError(f"the report's second process ended unexpectedly (exit code {self._proc.exitcode})"
                               ) from None
        if not ok:
            raise result
        return result

    def close(self) -> None:
        """Stop the generator (and its process)."""
        if self._proc is not None:
            self._conn.close()  # the forked process sees EOF and exits
            self._proc.join(5)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join()
            self._proc = None
        elif self._gen is not None:
            self._gen.close()
            self._gen = None


def _step_loop(conn: Any, other_end: Any, fn: Callable[..., Any], args: tuple[Any, ...],
               after_fork: Callable[[], None] | None) -> None:
    """In the forked process: run ``fn(*args)`` one step per value received, send back each result."""
    other_end.close()  # else closing it in the other process would never reach this one as EOF
    gen = None
    try:
        if after_fork is not None:
            after_fork()
        gen = fn(*args)
        result = next(gen)  # at once: the other process asks for it later
        while True:
            conn.send((True, result))
            result = gen.send(conn.recv())
    except StopIteration:
        conn.send((True, None))
    except EOFError:
        if gen is not None:  # the other process closed: nothing more is wanted; let the generator clean up
            gen.close()
    except BaseException as exc:  # noqa: BLE001 - handed to the other process, which raises it
        _send_error(conn, exc)
    finally:
        conn.close()
