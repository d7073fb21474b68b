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


# (index, columns, what 0004 includes): upgrade adds the included column, downgrade drops it again
_INDEXES = (("ix_posts_fts_report_when", "posts (created_at, content_hash, collected_at)", "id"),
            ("ix_post_tags_fts_report", "post_tags (post_id, kind, tag)", "place"))


def _recreate(covering: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, columns, included in _INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(f"CREATE INDEX {name} ON {columns}" + (f" INCLUDE ({included})" if covering else ""))


def upgrade() -> None:
    _recreate(covering=True)


def downgrade() -> None:
    _recreate(covering=False)
