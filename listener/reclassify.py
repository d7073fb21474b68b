"""Re-tag stored posts after the vocabulary or the classifier changed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from listener.store.db import session_scope
from listener.store.models import Post, PostTag, utcnow
from listener.store.queries import dialect_insert
from listener.tagging import Tagger, tag_rows

log = logging.getLogger(__name__)


@dataclass
class ReclassifyResult:
    examined: int = 0
    changed: int = 0
    now_irrelevant: int = 0
    version: str = ""


def reclassify(factory: sessionmaker[Session], tagger: Tagger, since: datetime | None = None,
               until: datetime | None = None, only_outdated: bool = True, batch: int = 2000,
               n_process: int = 1, progress: Callable[[int, int], None] | None = None) -> ReclassifyResult:
    """Re-tag posts (by default those tagged by another classifier version), one batch per commit."""
    version = tagger.version
    res = ReclassifyResult(version=version)
    when = func.coalesce(Post.created_at, Post.collected_at)

    def where(q):  # noqa: ANN001, ANN202
        if since is not None:
            q = q.where(when >= since)
        if until is not None:
            q = q.where(when < until)
        if only_outdated:
            q = q.where(or_(Post.classifier_version.is_(None), Post.classifier_version != version))
        return q

    with session_scope(factory) as s:
        total = s.scalar(where(select(func.count()).select_from(Post))) or 0
    last_id = 0
    while True:
        with session_scope(factory) as s:
            rows = s.execute(where(select(Post.id, Post.text).where(Post.id > last_id)).order_by(Post.id).limit(batch)).all()
            if not rows:
                break
            ids = [r.id for r in rows]
            old = {}
            for pid, kind, tag in s.execute(select(PostTag.post_id, PostTag.kind, PostTag.tag).where(PostTag.post_id.in_(ids))):
                old.setdefault(pid, set()).add((kind, tag))
            classifications = list(tagger.classify_many([r.text for r in rows], n_process=n_process))
            s.execute(delete(PostTag).where(PostTag.post_id.in_(ids)))
            tag_batch = []
            for r, c in zip(rows, classifications):
                new_rows = tag_rows(c, version)
                tag_batch.extend({**t, "post_id": r.id} for t in new_rows)
                if {(t["kind"], t["tag"]) for t in new_rows} != old.get(r.id, set()):
                    res.changed += 1
                if not c.themes:
                    res.now_irrelevant += 1
            if tag_batch:
                s.execute(dialect_insert(s)(PostTag), tag_batch)
            s.execute(update(Post).where(Post.id.in_(ids)).values(classifier_version=version, classified_at=utcnow()))
            res.examined += len(rows)
            last_id = ids[-1]
        if progress:
            progress(res.examined, total)
    log.info("reclassified %d posts (%d changed) with %s", res.examined, res.changed, version)
    return res
