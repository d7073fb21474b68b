"""Records shared by collectors, the run loop and the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping


@dataclass(frozen=True, slots=True, eq=True)
class Post:
    """One normalised post, whatever the platform it came from.

    ``text`` is plain text (HTML already stripped by the collector); ``created_at`` is an aware
    UTC datetime or None; ``author_key`` is a pseudonym (see ``listener.privacy``), never a
    handle; ``raw`` is a small excerpt of the payload (a few ids and counts), never the whole.
    """

    platform: str
    source_id: str
    external_id: str
    text: str
    url: str | None = None
    language: str | None = None
    created_at: datetime | None = None
    author_key: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class CursorState:
    """Where a source stopped last time, as stored in ``source_state``."""

    cursor: str | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Yielded by a collector when every post before it may be committed and the cursor moved.

    The run loop commits the pending posts first and only then stores this state, so a crash
    between fetch and commit never skips posts. Fields left None keep their stored value.
    """

    cursor: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False  # a 304: nothing new, nothing parsed


@dataclass(frozen=True, slots=True)
class Warning_:
    """A non-fatal problem with a source (a bozo feed, an unreadable entry), recorded in its run."""

    message: str
