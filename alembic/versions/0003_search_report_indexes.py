"""indexes for search and the weekly report on large stores

``ix_posts_fts_newest`` on (coalesce(created_at, collected_at), id): the order in which
`listener search` lists posts when a query has no words ("the newest posts with theme zorg"),
and the order of its ties. Without it every such search sorted the whole table (1.8 s with
80,000 posts); with it the newest posts are read first and the search stops after --limit.

Named with "fts" like the objects of 0002, so that the drift test (models against
migrations) passes over it: the models do not describe expression indexes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_posts_fts_newest ON posts ((coalesce(created_at, collected_at)), id)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_posts_fts_newest")
