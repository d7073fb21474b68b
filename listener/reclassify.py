"""Re-tag stored posts after the vocabulary or the classifier changed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from listener.reports.weeks import week_label
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
    weeks_recounted: list[str] = field(default_factory=list)  # ended weeks whose stored counts were refreshed


def reclassify(factory: sessionmaker[Session], tagger: Tagger, since: datetime | None = None,
               until: datetime | None = None, only_outdated: bool = True, batch: int = 2000,
               n_process: int = 1, progress: Callable[[int, int], None] | None = None,
               recount: bool = True) -> ReclassifyResult:
    """Re-tag posts (by default those tagged by another classifier version), one batch per commit.

    Then (``recount``) the weekly counts of the ended weeks in which a post's tags changed are
    counted again (``listener.reports.weekly.recount_weeks``): a report compares its week with
    earlier weeks' stored counts, which would otherwise still follow the old vocabulary.
    """
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
    changed_weeks: set[str] = set()
    while True:
        with session_scope(factory) as s:
            rows = s.execute(where(select(Post.id, Post.text, when.label("when")).where(Post.id > last_id))
                             .order_by(Post.id).limit(batch)).all()
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
                    if r.when is not None:
                        changed_weeks.add(week_label(r.when))
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
    if recount and changed_weeks:
        from listener.reports.weekly import recount_weeks  # pandas: only when there is something to count

        res.weeks_recounted = recount_weeks(factory, changed_weeks)
    return res
