"""The collector seam: a protocol, a registry by ``kind`` and the context every collector gets.

A collector takes one source and its stored cursor and yields ``Post`` objects, ``Checkpoint``
objects (safe points where the run loop may commit and move the cursor) and ``Warning_``
objects. It never stores anything: the run loop owns batching, storing, cursors, timing and
error isolation. ``raise SourceSkipped(...)`` skips one source; the rest run on.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, ClassVar, Iterator, Mapping, Protocol, TypeVar

from pydantic import BaseModel

from listener import __version__
from listener.models import Checkpoint, CursorState, Post, Warning_

Item = Post | Checkpoint | Warning_


@dataclass(frozen=True, slots=True)
class CollectContext:
    """What a collector may use besides its source: settings, environment, clocks."""

    user_agent: str = f"krimp-listener/{__version__} (+https://github.com/krimp-listener)"
    timeout_s: float = 20.0
    max_body_bytes: int = 10_000_000
    max_redirects: int = 5
    max_items_per_run: int = 1000
    max_per_host: int = 4  # requests to one host (scheme, host, port) at the same time
    env: Mapping[str, str] = field(default_factory=dict)
    # Injected so tests never really sleep and can move time.
    now: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    sleep: Callable[[float], None] = field(default=time.sleep)
    max_wait_s: float = 0.0  # a rate limit longer than this defers the source to the next run
    # Keyword sets resolved from keywords_nl.txt / sources.yaml, by name.
    keyword_sets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Where sources.yaml lives: relative local paths are read from there.
    base_dir: Path | None = None


class Collector(Protocol):
    kind: ClassVar[str]
    Config: ClassVar[type[BaseModel]]  # pydantic model of this kind's source fields

    def __init__(self, ctx: CollectContext) -> None: ...

    def collect(self, source: BaseModel, state: CursorState) -> Iterator[Item]: ...


C = TypeVar("C")
_REGISTRY: dict[str, type] = {}

# Modules imported on first lookup; a new platform adds its module name here and
# registers its kind with @register.
BUILTIN_MODULES = ("rss", "x", "reddit", "mastodon", "bluesky")


def register(kind: str) -> Callable[[type[C]], type[C]]:
    """Class decorator: make a collector available under ``kind`` in sources.yaml."""

    def deco(cls: type[C]) -> type[C]:
        cls.kind = kind  # type: ignore[attr-defined]
        _REGISTRY[kind] = cls
        return cls

    return deco


def _load_builtins() -> None:
    for name in BUILTIN_MODULES:
        try:
            importlib.import_module(f"listener.collectors.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"listener.collectors.{name}":
                raise


def registry() -> dict[str, type]:
    """All registered collector classes by kind."""
    if not _REGISTRY or len(_REGISTRY) < len(BUILTIN_MODULES):
        _load_builtins()
    return dict(_REGISTRY)


def collector_for(kind: str, ctx: CollectContext) -> Collector:
    """A ready collector for ``kind``; KeyError when no such kind is registered."""
    return registry()[kind](ctx)
