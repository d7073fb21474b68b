"""weekly_count_stamps: what each week's stored counts were counted from

One row per week whose ``weekly_counts`` equal a count of its posts: the number of the week's
stored posts and their highest id at that moment. A report compares the stamp with the week's
posts now (two index range scans, a few milliseconds) and counts its week again only when they
differ; before, every report counted its own week from the posts (about 1 s of 4 at 1,000,000
posts). Whatever changes a week's tags without adding or deleting posts (`listener
reclassify`), or deletes posts (retention, forget), drops the stamps of the weeks it touches.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "weekly_count_stamps",
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("n_stored", sa.Integer(), nullable=False),
        sa.Column("max_post_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("week", name=op.f("pk_weekly_count_stamps")),
    )


def downgrade() -> None:
    op.drop_table("weekly_count_stamps")
