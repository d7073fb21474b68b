"""covering indexes for the weekly report's reads on PostgreSQL

The report reads a week's posts (id, content hash) and their tags (kind, tag, place). On
PostgreSQL the two indexes of 0002 for those reads lacked a column each (``posts.id``,
``post_tags.place``), so every read also visited the table: 39,000 heap pages for a week's posts
and a merge join over the whole ``post_tags`` index for their tags (the week's count took 1.6 s
at 1,000,000 posts). With the columns included, both are index-only scans once the tables are
vacuumed (``listener import`` vacuums after a bulk import; autovacuum does it otherwise). SQLite
needs nothing: its index entries carry the rowid (``id``), and its report plans are unchanged.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""
from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_posts_fts_report_when")
    op.execute("CREATE INDEX ix_posts_fts_report_when ON posts (created_at, content_hash, collected_at) INCLUDE (id)")
    op.execute("DROP INDEX IF EXISTS ix_post_tags_fts_report")
    op.execute("CREATE INDEX ix_post_tags_fts_report ON post_tags (post_id, kind, tag) INCLUDE (place)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_post_tags_fts_report")
    op.execute("CREATE INDEX ix_post_tags_fts_report ON post_tags (post_id, kind, tag)")
    op.execute("DROP INDEX IF EXISTS ix_posts_fts_report_when")
    op.execute("CREATE INDEX ix_posts_fts_report_when ON posts (created_at, content_hash, collected_at)")
