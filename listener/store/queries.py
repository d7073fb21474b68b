"""Queries the pipeline and commands share: sources, cursor state, bulk upsert of posts, runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Sequence

from sqlalchemy import JSON, func, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from listener.models import Checkpoint, CursorState
from listener.store.models import Post as PostRow
from listener.store.models import PostTag, Run, Source, SourceState, utcnow

UPSERT_BATCH = 500


@dataclass(frozen=True, slots=True)
class NewPost:
    """A cleaned, masked, classified post ready for the store."""

    source_id: str
    platform: str
    external_id: str
    text: str
    url: str | None
    language: str | None
    created_at: datetime | None
    author_key: str | None
    content_hash: str
    raw: dict[str, Any] | None
    tags: tuple[dict[str, Any], ...] = ()  # rows for post_tags without post_id
    classifier_version: str | None = None


def dialect_insert(session: Session):  # noqa: ANN202 - dialect-specific Insert
    # Imported here: the PostgreSQL dialect is not loaded at all on an SQLite store.
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def sync_sources(session: Session, sources: Iterable[Any]) -> None:
    """Record the configured sources (id, kind, name, config) so runs and reports can name them."""
    now = utcnow()
    existing = {s.id: s for s in session.scalars(select(Source))}
    for src in sources:
        cfg = src.model_dump(mode="json")
        row = existing.get(src.id)
        if row is None:
            session.add(Source(id=src.id, kind=src.kind, name=src.name, config=cfg, first_seen_at=now, updated_at=now))
        elif row.config != cfg or row.kind != src.kind or row.name != src.name:
            row.kind, row.name, row.config, row.updated_at = src.kind, src.name, cfg, now
    session.flush()


def get_state(session: Session, source_id: str) -> SourceState:
    """The state row of a source, created empty when missing."""
    state = session.get(SourceState, source_id)
    if state is None:
        state = SourceState(source_id=source_id, consecutive_failures=0, dead=False)
        session.add(state)
        session.flush()
    return state


def cursor_of(state: SourceState) -> CursorState:
    return CursorState(cursor=state.cursor, etag=state.etag, last_modified=state.last_modified)


def apply_checkpoint(state: SourceState, cp: Checkpoint) -> None:
    """Move the cursor; fields the checkpoint leaves None keep their stored value."""
    if cp.cursor is not None:
        state.cursor = cp.cursor
    if cp.etag is not None:
        state.etag = cp.etag
    if cp.last_modified is not None:
        state.last_modified = cp.last_modified


POST_COLUMNS = ("source_id", "platform", "external_id", "url", "text", "language", "created_at", "collected_at",
                "author_key", "content_hash", "raw", "classifier_version", "classified_at")
TAG_COLUMNS = ("post_id", "kind", "tag", "label", "place", "matched", "evidence", "classifier_version")


@dataclass(frozen=True, slots=True)
class StoreRows:
    """Posts as driver-ready tuples (``POST_COLUMNS``) with their tag tuples (``TAG_COLUMNS`` without post_id)."""

    posts: list[tuple[Any, ...]]
    tags: list[list[tuple[Any, ...]]]
    received: int  # posts handed in, duplicates within the batch included


# Column types for PostgreSQL's unnest() arrays; JSON goes as text and is cast there.
_PG_POST_TYPES = ("text", "text", "text", "text", "text", "text", "timestamptz", "timestamptz", "text", "text", "json",
                  "text", "timestamptz")
_PG_TAG_TYPES = ("bigint", "text", "text", "text", "text", "text", "json", "text")


def _processors(table: Any, columns: Sequence[str], dialect: Dialect) -> list[Callable[[Any], Any] | None]:
    # The column types' own bind processors (UTCDateTime, the dialect's DATETIME text format),
    # so the values stored are exactly those a Core insert would store. JSON is serialised
    # here as SQLAlchemy does (None becomes JSON null), not wrapped for the driver.
    serialise = getattr(dialect, "_json_serializer", None) or json.dumps
    return [serialise if isinstance(table.c[name].type, JSON) else table.c[name].type._cached_bind_processor(dialect)
            for name in columns]


def store_rows(posts: Sequence[NewPost], dialect: Dialect) -> StoreRows:
    """Serialise posts for ``dialect`` (no database needed: runs in import worker processes)."""
    seen: set[tuple[str, str]] = set()
    post_proc = _processors(PostRow.__table__, POST_COLUMNS, dialect)
    tag_cols = TAG_COLUMNS[1:]
    tag_proc = [(i, c, f) for i, (c, f) in enumerate(zip(tag_cols, _processors(PostTag.__table__, tag_cols, dialect)))]
    convert = [(i, f) for i, f in enumerate(post_proc) if f is not None]
    now_at = POST_COLUMNS.index("collected_at")
    now = post_proc[now_at](utcnow()) if post_proc[now_at] else utcnow()  # type: ignore[misc]
    convert = [(i, f) for i, f in convert if i != now_at and POST_COLUMNS[i] != "classified_at"]
    rows: list[tuple[Any, ...]] = []
    tags: list[list[tuple[Any, ...]]] = []
    for p in posts:
        key = (p.source_id, p.external_id)
        if key in seen:
            continue
        seen.add(key)
        values = [p.source_id, p.platform, p.external_id, p.url, p.text, p.language, p.created_at, now, p.author_key,
                  p.content_hash, p.raw or None, p.classifier_version, now if p.classifier_version else None]
        for i, f in convert:
            values[i] = f(values[i])
        rows.append(tuple(values))
        tags.append([tuple(f(t[c]) if f else t[c] for _, c, f in tag_proc) for t in p.tags])
    return StoreRows(rows, tags, len(posts))


def _insert_sql(table: str, columns: Sequence[str], n_rows: int, dialect: str, tail: str = "") -> str:
    # SQLite: one multi-row VALUES list. PostgreSQL: one array per column through unnest(),
    # so the statement text is short and the same for every batch (psycopg prepares it once).
    if dialect == "postgresql":
        types = _PG_POST_TYPES if table == "posts" else _PG_TAG_TYPES
        # %b: psycopg dumps the arrays in binary, in C; as text it escapes every element in Python.
        arrays = ", ".join(f"%b::{t}[]" for t in types)
        return f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) {tail}"
    one = "(" + ", ".join(["?"] * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * n_rows)} {tail}"


def _params(rows: Sequence[tuple[Any, ...]], dialect: str) -> tuple[Any, ...]:
    if dialect == "postgresql":
        return tuple(list(col) for col in zip(*rows))
    return tuple(v for r in rows for v in r)


def store_prepared(session: Session, prepared: StoreRows, batch: int = UPSERT_BATCH,
                   inserted: list[tuple[str, str]] | None = None) -> tuple[int, int]:
    """Insert rows from ``store_rows`` not stored yet (per source and external id); (new, duplicate).

    ``inserted``, when given, receives the (source id, external id) of every row stored now.

    On the driver directly: SQLAlchemy's per-row parameter processing was half the storing
    time, and ``store_rows`` has done that work already (in a worker process, for imports).
    """
    conn = session.connection()
    dialect = conn.dialect.name

    def run(sql: str, params: tuple[Any, ...]) -> list[Any]:
        result = conn.exec_driver_sql(sql, params)
        return list(result) if result.returns_rows else []

    tail = "ON CONFLICT (source_id, external_id) DO NOTHING RETURNING id, source_id, external_id"
    new = 0
    for i in range(0, len(prepared.posts), batch):
        rows, tags = prepared.posts[i : i + batch], prepared.tags[i : i + batch]
        sql = _insert_sql("posts", POST_COLUMNS, len(rows), dialect, tail)
        ids = {(sid, eid): pid for pid, sid, eid in run(sql, _params(rows, dialect))}
        new += len(ids)
        if inserted is not None:
            inserted.extend(ids)
        tag_rows = [(ids[(r[0], r[2])], *t) for r, ts in zip(rows, tags) if (r[0], r[2]) in ids for t in ts]
        if tag_rows:
            run(_insert_sql("post_tags", TAG_COLUMNS, len(tag_rows), dialect), _params(tag_rows, dialect))
    return new, prepared.received - new


def store_posts(session: Session, posts: Sequence[NewPost], batch: int = UPSERT_BATCH) -> tuple[int, int]:
    """Insert posts not stored yet (per source and external id) with their tags; (new, duplicate)."""
    return store_prepared(session, store_rows(posts, session.get_bind().dialect), batch)


def refresh_statistics(session: Session) -> None:
    """After a bulk import on PostgreSQL: VACUUM (ANALYZE) posts and post_tags.

    Autovacuum gets there eventually; until then the planner guessed 8 posts for a theme that
    has 110,000 and sorted all of them for a search instead of reading the newest first (3 s),
    and the report's index-only reads (migration 0004) still visited the table for every row,
    because only VACUUM marks the new pages all-visible (2-3 s at 1,000,000 posts). VACUUM cannot
    run inside a transaction: it gets a connection of its own. SQLite needs neither.
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) posts"))
            conn.execute(text("VACUUM (ANALYZE) post_tags"))


def start_run(session: Session, source_id: str, owner: str | None = None) -> Run:
    run = Run(source_id=source_id, started_at=utcnow(), status="running", fetched=0, new=0, duplicate=0,
              skipped=0, irrelevant=0, warnings=0, owner=owner)
    session.add(run)
    session.flush()
    return run


def count_posts(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(PostRow)) or 0


def tags_by_post(session: Session, post_ids: Sequence[int]) -> dict[int, list[PostTag]]:
    out: dict[int, list[PostTag]] = {pid: [] for pid in post_ids}
    if not post_ids:
        return out
    for tag in session.scalars(select(PostTag).where(PostTag.post_id.in_(post_ids)).order_by(PostTag.id)):
        out[tag.post_id].append(tag)
    return out


def iter_posts(session: Session, since: datetime | None = None, until: datetime | None = None,
               chunk: int = 1000) -> Iterator[tuple[PostRow, list[PostTag]]]:
    """Stored posts (by created time, else collected time) with their tags, streamed in chunks."""
    when = func.coalesce(PostRow.created_at, PostRow.collected_at)
    last_id = 0
    while True:
        q = select(PostRow).where(PostRow.id > last_id).order_by(PostRow.id).limit(chunk)
        if since is not None:
            q = q.where(when >= since)
        if until is not None:
            q = q.where(when < until)
        rows = list(session.scalars(q))
        if not rows:
            return
        tags = tags_by_post(session, [r.id for r in rows])
        for r in rows:
            yield r, tags[r.id]
        last_id = rows[-1].id
        session.expunge_all()


def post_to_dict(post: PostRow, tags: Sequence[PostTag]) -> dict[str, Any]:
    """A stored post in the shape of `listener classify` output plus its origin fields."""
    themes = [t.tag for t in tags if t.kind == "theme"]
    signals = [t.tag for t in tags if t.kind == "signal"]
    regions = [t.tag for t in tags if t.kind == "region"]
    munis = [
        {"code": t.tag, "name": t.label, "place": t.place, "matched": t.matched}
        for t in tags if t.kind == "municipality"
    ]
    evidence, seen = [], set()
    for t in tags:
        for ev in t.evidence or []:
            key = (t.tag, ev.get("start"), ev.get("end"))
            if key not in seen:
                seen.add(key)
                evidence.append({"tag": t.tag, "matched": ev.get("matched"), "start": ev.get("start"), "end": ev.get("end")})
    evidence.sort(key=lambda e: (e.get("start", 0), e.get("tag", "")))
    return {
        "id": str(post.id),
        "platform": post.platform,
        "source": post.source_id,
        "external_id": post.external_id,
        "url": post.url,
        "created_at": post.created_at.isoformat() if post.created_at else None,
        "collected_at": post.collected_at.isoformat() if post.collected_at else None,
        "language": post.language,
        "text": post.text,
        "content_hash": post.content_hash,
        "author_key": post.author_key,
        "themes": themes,
        "signals": signals,
        "municipalities": munis,
        "regions": regions,
        "evidence": evidence,
        "classifier_version": post.classifier_version,
    }
