"""The report's forked helpers: the same files with and without fork, errors cross over, no orphans."""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.reports import background
from listener.reports.weekly import write_weekly_report

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reports"


def _steps(start: int):  # noqa: ANN202 - generator
    got = yield start + 1
    got = yield got * 2
    if got == "boom":
        raise ValueError("boom from the other side")
    yield f"done {got}"


@pytest.mark.parametrize("fork", [True, False])
def test_coroutine_steps_and_errors(fork: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not fork:
        monkeypatch.setattr(background.multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    co = background.Coroutine(_steps, 1)
    try:
        assert co.get() == 2
        co.put(21)
        assert co.get() == 42
        co.put("boom")
        with pytest.raises(ValueError, match="boom from the other side"):
            co.get()
    finally:
        co.close()
    co = background.Coroutine(_steps, 1)
    co.close()  # closed before its first value: the forked process ends


def test_worker_runs_jobs_in_order() -> None:
    w = background.Worker()
    first = w.submit(sum, [1, 2])
    last = w.run(max, [3, 9])
    assert (first(), last()) == (3, 9)


def test_report_without_fork_writes_the_same_files(golden_sqlite, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _, factory = golden_sqlite
    forked = write_weekly_report(factory, "2026-W47", tmp_path / "forked")
    monkeypatch.setattr(background.multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    here = write_weekly_report(factory, "2026-W47", tmp_path / "here")
    assert [p.name for p in forked] == [p.name for p in here]
    for name in ("overzicht", "berichten", "initiatieven", "dekking"):
        assert (tmp_path / "here" / f"{name}.csv").read_bytes() == (tmp_path / "forked" / f"{name}.csv").read_bytes()
        assert (tmp_path / "here" / f"{name}.csv").read_bytes().decode("utf-8-sig").splitlines() == \
            (FIXTURES / f"expected_{name}.csv").read_bytes().decode("utf-8-sig").splitlines()
    assert (tmp_path / "here" / "rapport.html").read_text() == (tmp_path / "forked" / "rapport.html").read_text()


def test_a_failing_posts_half_fails_the_report_and_commits_nothing(golden_sqlite, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import func, select

    from listener.errors import StoreError
    from listener.reports import posts
    from listener.store.db import session_scope
    from listener.store.models import AuditEntry, WeeklyCount

    _, factory = golden_sqlite

    def broken(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise StoreError("database: disk I/O error")

    monkeypatch.setattr(posts, "build", broken)
    with pytest.raises(StoreError, match="disk I/O error"):
        write_weekly_report(factory, "2026-W47", tmp_path)
    with session_scope(factory) as s:
        assert s.scalar(select(func.count()).select_from(WeeklyCount)) == 0
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0
