"""SQLAlchemy 2.0 typed models. Alembic migrations in ``alembic/`` create exactly this schema."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, on SQLite (which has no time zones) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Source(Base):
    """A configured source as last seen in sources.yaml (config kept for the run history)."""

    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    state: Mapped["SourceState | None"] = relationship(back_populates="source", uselist=False)


class SourceState(Base):
    """Per-source cursor, conditional-GET validators, health and the collection lease."""

    __tablename__ = "source_state"

    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(String(500))
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    dead: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    source: Mapped[Source] = relationship(back_populates="state")


class Run(Base):
    """One collection of one source: when, how it ended, what it counted."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # ok | failed | skipped | deferred | not_modified | running
    status: Mapped[str] = mapped_column(String(20), default="running")
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    duplicate: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    irrelevant: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(200))


class Post(Base):
    """A stored post. Unique per source and external id; author only as a pseudonymous key."""

    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("source_id", "external_id", name="uq_posts_source_external"),
        Index("ix_posts_created_at", "created_at"),
        Index("ix_posts_collected_at", "collected_at"),
        Index("ix_posts_content_hash", "content_hash"),
        Index("ix_posts_author_key", "author_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    author_key: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    classifier_version: Mapped[str | None] = mapped_column(String(100))
    classified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tags: Mapped[list["PostTag"]] = relationship(
        back_populates="post", cascade="all, delete-orphan", passive_deletes=True
    )


class PostTag(Base):
    """One tag of a post: a theme, signal, municipality (CBS code) or region, with its evidence."""

    __tablename__ = "post_tags"
    __table_args__ = (
        Index("ix_post_tags_kind_tag", "kind", "tag"),
        Index("ix_post_tags_post_id", "post_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # theme | signal | municipality | region
    tag: Mapped[str] = mapped_column(String(100))  # taxonomy id, CBS code (GM0014) or region name
    label: Mapped[str | None] = mapped_column(String(200))  # municipality: official CBS name
    place: Mapped[str | None] = mapped_column(String(200))  # municipality: the woonplaats it came through
    matched: Mapped[str | None] = mapped_column(Text)  # the words as they stand in the text
    evidence: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # [{matched, start, end}]
    classifier_version: Mapped[str] = mapped_column(String(100))

    post: Mapped[Post] = relationship(back_populates="tags")


class WeeklyCount(Base):
    """Weekly aggregates per municipality/region × theme; kept after post text is purged."""

    __tablename__ = "weekly_counts"
    __table_args__ = (
        UniqueConstraint("week", "area_kind", "area", "place", "theme", name="uq_weekly_counts_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    week: Mapped[str] = mapped_column(String(8))  # ISO week, 2026-W47
    area_kind: Mapped[str] = mapped_column(String(16))  # municipality | region
    area: Mapped[str] = mapped_column(String(100))  # CBS code or region name
    place: Mapped[str] = mapped_column(String(200), default="")  # village, '' for the whole area
    theme: Mapped[str] = mapped_column(String(32))
    n_posts: Mapped[int] = mapped_column(Integer, default=0)
    n_probleem: Mapped[int] = mapped_column(Integer, default=0)
    n_initiatief: Mapped[int] = mapped_column(Integer, default=0)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WeeklyCountStamp(Base):
    """What a week's ``weekly_counts`` were counted from: its stored posts and their highest id then.

    Present only while the week's stored counts equal a count of its posts; a report counts its
    week again only when the week's posts no longer match the stamp (migration 0005).
    """

    __tablename__ = "weekly_count_stamps"

    week: Mapped[str] = mapped_column(String(8), primary_key=True)  # ISO week, 2026-W47
    n_stored: Mapped[int] = mapped_column(Integer)
    max_post_id: Mapped[int | None] = mapped_column(BigId)
    counted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """Who ran which search, report, export, purge or forget, and with which filters. No post text."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    command: Mapped[str] = mapped_column(String(32))
    filters: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    os_user: Mapped[str | None] = mapped_column(String(100))
    rows: Mapped[int | None] = mapped_column(Integer)
