"""Migrations: empty → head → base → head on both backends, and no drift from the models."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from listener.store.db import current_revision, downgrade, head_revision, make_engine, upgrade

TABLES = {"sources", "source_state", "runs", "posts", "post_tags", "weekly_counts", "audit_log"}


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        before, after = upgrade(engine)
        assert before is None and after == head_revision()
        assert TABLES <= set(inspect(engine).get_table_names())
        downgrade(engine, "base")
        assert current_revision(engine) is None
        assert not (TABLES & set(inspect(engine).get_table_names()))
        upgrade(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


# The expression index of 0003 cannot be reflected; the comparison below passes over it anyway.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_migrations_match_models(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from listener.store.models import Base

    engine = make_engine(db_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        # Full-text search objects are created by raw SQL in a migration and have no model.
        diff = [d for d in diff if "fts" not in repr(d).lower() and "search" not in repr(d).lower()]
        assert diff == []
    finally:
        engine.dispose()


def test_the_quick_schema_check_knows_the_newest_migration(db_url: str) -> None:
    # open_store recognises a store at HEAD_REVISION with one query; adding a migration without
    # updating the constant would make every command run the full (Alembic) check, or worse.
    from listener.store.db import HEAD_REVISION, _at_head

    assert HEAD_REVISION == head_revision()
    engine = make_engine(db_url)
    try:
        assert not _at_head(engine)  # an empty database
        upgrade(engine, "0002")
        assert not _at_head(engine)
        upgrade(engine)
        assert _at_head(engine)
    finally:
        engine.dispose()


def test_sqlite_connections_get_the_store_settings(tmp_path) -> None:  # noqa: ANN001
    from sqlalchemy import text

    from listener.store.db import SQLITE_CACHE_KIB, SQLITE_CHECKPOINT_PAGES

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as c:
        got = {p: c.execute(text(f"PRAGMA {p}")).scalar()
               for p in ("journal_mode", "synchronous", "foreign_keys", "cache_size", "wal_autocheckpoint")}
    engine.dispose()
    assert got == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "cache_size": -SQLITE_CACHE_KIB,
                   "wal_autocheckpoint": SQLITE_CHECKPOINT_PAGES}
