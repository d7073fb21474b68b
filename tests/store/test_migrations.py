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


def test_0004_makes_the_report_indexes_covering_on_postgresql(db_url: str) -> None:
    from sqlalchemy import text

    engine = make_engine(db_url)
    pg = engine.dialect.name == "postgresql"

    def index_defs() -> dict[str, str]:
        sql = ("SELECT indexname, indexdef FROM pg_indexes" if pg else "SELECT name, sql FROM sqlite_master") + \
            " WHERE {} IN ('ix_posts_fts_report_when', 'ix_post_tags_fts_report')".format("indexname" if pg else "name")
        with engine.connect() as conn:
            return dict(conn.execute(text(sql)).all())

    try:
        upgrade(engine)
        defs = index_defs()
        assert len(defs) == 2
        if pg:
            assert defs["ix_posts_fts_report_when"].endswith("(created_at, content_hash, collected_at) INCLUDE (id)")
            assert defs["ix_post_tags_fts_report"].endswith("(post_id, kind, tag) INCLUDE (place)")
        else:  # SQLite's index entries carry the rowid (id) already: unchanged
            assert all("INCLUDE" not in d for d in defs.values())
        downgrade(engine, "0003")
        assert len(index_defs()) == 2 and all("INCLUDE" not in d for d in index_defs().values())
    finally:
        engine.dispose()
