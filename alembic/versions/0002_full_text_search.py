"""full-text search over posts: SQLite FTS5 table with triggers, PostgreSQL tsvector + GIN

SQLite: ``posts_fts`` is an FTS5 external-content table over ``posts.text`` (tokenizer
unicode61 with diacritics removed, so "cooperatie" finds "coöperatie"), kept in step by the
triggers ``posts_fts_ai/ad/au`` and filled from the existing posts on upgrade.

PostgreSQL: ``posts.text_fts`` is a stored generated ``to_tsvector('dutch', text)`` column
(filled for existing rows when it is added) with the GIN index ``ix_posts_fts``; the Dutch
Snowball stemmer lets "pinautomaten" find "pinautomaat".

Also two indexes for the weekly report (named "fts" too, so the drift test passes over
them): post_tags (post_id, kind, tag) covers the joins of the aggregation, and posts
(created_at, content_hash, collected_at) lets it find a week's unique texts without reading
the post rows.

Every object has "fts" in its name: the models do not describe them, and the drift test
ignores them. Note for later migrations: on SQLite, ``batch_alter_table('posts')`` copies
the table and drops its triggers; recreate them (``_sqlite_triggers``) after such a change.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""
from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER posts_fts_ai AFTER INSERT ON posts BEGIN
         INSERT INTO posts_fts(rowid, text) VALUES (new.id, new.text);
       END""",
    """CREATE TRIGGER posts_fts_ad AFTER DELETE ON posts BEGIN
         INSERT INTO posts_fts(posts_fts, rowid, text) VALUES ('delete', old.id, old.text);
       END""",
    """CREATE TRIGGER posts_fts_au AFTER UPDATE OF text ON posts BEGIN
         INSERT INTO posts_fts(posts_fts, rowid, text) VALUES ('delete', old.id, old.text);
         INSERT INTO posts_fts(rowid, text) VALUES (new.id, new.text);
       END""",
)


def _sqlite_triggers() -> None:
    for sql in SQLITE_TRIGGERS:
        op.execute(sql)


def _report_indexes() -> None:
    op.execute("CREATE INDEX ix_post_tags_fts_report ON post_tags (post_id, kind, tag)")
    op.execute("CREATE INDEX ix_posts_fts_report_when ON posts (created_at, content_hash, collected_at)")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE posts_fts USING fts5("
            "text, content='posts', content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
        )
        _sqlite_triggers()
        op.execute("INSERT INTO posts_fts(posts_fts) VALUES ('rebuild')")
        _report_indexes()
    elif dialect == "postgresql":
        op.execute(
            "ALTER TABLE posts ADD COLUMN text_fts tsvector "
            "GENERATED ALWAYS AS (to_tsvector('dutch'::regconfig, coalesce(text, ''))) STORED"
        )
        op.execute("CREATE INDEX ix_posts_fts ON posts USING gin (text_fts)")
        _report_indexes()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"full-text search is not available on {dialect}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("DROP INDEX IF EXISTS ix_post_tags_fts_report")
    op.execute("DROP INDEX IF EXISTS ix_posts_fts_report_when")
    if dialect == "sqlite":
        for name in ("posts_fts_ai", "posts_fts_ad", "posts_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS posts_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_posts_fts")
        op.execute("ALTER TABLE posts DROP COLUMN IF EXISTS text_fts")
