"""The golden store: a fixed set of tagged posts, runs and sources over weeks 2026-W41..W48."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import update

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reports"
WEEK = "2026-W47"


def _tags(p: dict) -> tuple[dict, ...]:
    ev = p.get("ev", {})

    def row(kind: str, tag: str, label: str | None = None, place: str | None = None, matched: str | None = None) -> dict:
        words = matched or ev.get(tag)
        evidence = [{"matched": w.strip(), "start": 0, "end": 0} for w in words.split(";")] if words else None
        return {"kind": kind, "tag": tag, "label": label, "place": place, "matched": words,
                "evidence": evidence, "classifier_version": "golden"}

    rows = [row("theme", t) for t in p.get("themes", [])]
    rows += [row("signal", s) for s in p.get("signals", [])]
    rows += [row("municipality", code, label, place, matched) for code, label, place, matched in p.get("munis", [])]
    rows += [row("region", r) for r in p.get("regions", [])]
    return tuple(rows)


def load_golden(factory) -> None:  # noqa: ANN001
    """Store the golden posts with explicit tags (no classifier), their sources and runs."""
    from listener.store.db import session_scope
    from listener.store.models import Post, Run, Source
    from listener.store.queries import NewPost, store_posts
    from listener.text import content_hash

    data = json.loads((FIXTURES / "golden_posts.json").read_text(encoding="utf-8"))
    with session_scope(factory) as s:
        for src in data["sources"]:
            s.add(Source(id=src["id"], kind=src["kind"], name=src["name"], config={"id": src["id"]}))
        for r in data["runs"]:
            s.add(Run(source_id=r["source_id"], started_at=datetime.fromisoformat(r["started_at"]),
                      finished_at=datetime.fromisoformat(r["started_at"]), status=r["status"], fetched=r["fetched"],
                      new=r["new"], duplicate=0, skipped=0, irrelevant=0, warnings=0, error=r.get("error")))
        posts = [NewPost(source_id=p["source"], platform=p["platform"], external_id=p["id"], text=p["text"],
                         url=p["url"], language="nl",
                         created_at=datetime.fromisoformat(p["created_at"]) if p["created_at"] else None,
                         author_key=None, content_hash=content_hash(p["text"]), raw=None, tags=_tags(p),
                         classifier_version="golden") for p in data["posts"]]
        store_posts(s, posts)
        for p in data["posts"]:
            if p.get("collected_at"):
                s.execute(update(Post).where(Post.external_id == p["id"])
                          .values(collected_at=datetime.fromisoformat(p["collected_at"])))


@pytest.fixture
def golden(store):  # noqa: ANN001, ANN201
    """(engine, factory) of a store holding the golden posts, on SQLite and PostgreSQL."""
    engine, factory = store
    load_golden(factory)
    return engine, factory


@pytest.fixture
def golden_sqlite(sqlite_store):  # noqa: ANN001, ANN201
    """The golden store on SQLite only (for tests that check files, not the database)."""
    engine, factory = sqlite_store
    load_golden(factory)
    return engine, factory
