"""The audit log: who ran which search, report, export, purge or forget (never post text)."""

from __future__ import annotations

import getpass
import os
from typing import Any

from sqlalchemy.orm import Session

from listener.store.models import AuditEntry, utcnow


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in a container
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def record(session: Session, command: str, filters: dict[str, Any] | None, rows: int | None = None) -> None:
    """Add one audit entry in ``session`` (the caller commits)."""
    clean = {k: v for k, v in (filters or {}).items() if v not in (None, (), [], "")}
    session.add(AuditEntry(at=utcnow(), command=command, filters=clean or None, os_user=os_user(), rows=rows))
