"""Queries the pipeline and commands share: sources, cursor state, bulk upsert of posts, runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Iterator, Sequence

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
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
    name = session.get_bind().dialect.name
    return postgresql.insert if name == "postgresql" else sqlite.insert


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


def store_posts(session: Session, posts: Sequence[NewPost], batch: int = UPSERT_BATCH) -> tuple[int, int]:
    """Insert posts not stored yet (per source and external id) with their tags; (new, duplicate)."""
    seen: set[tuple[str, str]] = set()
    unique: list[NewPost] = []
    for p in posts:
        key = (p.source_id, p.external_id)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    new = 0
    insert = dialect_insert(session)
    now = utcnow()
    for i in range(0, len(unique), batch):
        chunk = unique[i : i + batch]
        rows = [
            {
                "source_id": p.source_id, "platform": p.platform, "external_id": p.external_id,
                "url": p.url, "text": p.text, "language": p.language, "created_at": p.created_at,
                "collected_at": now, "author_key": p.author_key, "content_hash": p.content_hash,
                "raw": p.raw or None, "classifier_version": p.classifier_version,
                "classified_at": now if p.classifier_version else None,
            }
            for p in chunk
        ]
        stmt = (
            insert(PostRow)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["source_id", "external_id"])
            .returning(PostRow.id, PostRow.source_id, PostRow.external_id)
        )
        ids = {(sid, eid): pid for pid, sid, eid in session.execute(stmt)}
        new += len(ids)
        tag_rows = [
            {**tag, "post_id": ids[(p.source_id, p.external_id)]}
            for p in chunk
            if (p.source_id, p.external_id) in ids
            for tag in p.tags
        ]
        if tag_rows:
            session.execute(insert(PostTag), tag_rows)
    return new, len(posts) - new


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
