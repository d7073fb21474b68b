"""Engine and session handling, database selection, and Alembic migrations."""

from __future__ import annotations

import logging
import random
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InternalError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

import listener
from listener.errors import ConfigError, StoreError
from listener.privacy import mask_url_credentials

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///listener.db"
SQLITE_BUSY_MS = 30_000
T = TypeVar("T")


def normalise_url(url: str | None) -> str:
    """The URL to use: given, or the default SQLite file; PostgreSQL goes through psycopg 3."""
    url = (url or DEFAULT_URL).strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


SQLITE_CACHE_KIB = 65_536  # page cache per connection
SQLITE_CHECKPOINT_PAGES = 16_384  # WAL pages (4 KiB) between automatic checkpoints


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DBAPI connection
    # WAL lets a report read while a collector writes; busy_timeout waits for the writer lock.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    # A bulk import touches index pages all over a file of a gigabyte or more: a 64 MB page cache
    # (the default is 2 MB) and a checkpoint every 64 MB of WAL (not every 4 MB) took the 1M-post
    # import from 362 to 342 s (system time down by half at 100k). The cache grows only as it is used.
    cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
    cur.close()


def make_engine(url: str | None = None) -> Engine:
    """An Engine for ``url`` (or the default SQLite file), with SQLite in WAL mode."""
    full = normalise_url(url)
    try:
        parsed = make_url(full)
    except ArgumentError:
        raise ConfigError(f"--db: not a database URL: {url!r} (e.g. sqlite:///listener.db)") from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            parent = Path(db).expanduser().resolve().parent
            if not parent.is_dir():
                raise StoreError(f"database {safe_url(full)}: directory {parent} does not exist")
        engine = create_engine(full, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(f"--db: unsupported database '{parsed.get_backend_name()}' (use sqlite or postgresql)")
    try:
        return create_engine(full, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except Exception as exc:  # noqa: BLE001 - missing driver and the like
        raise StoreError(f"database {safe_url(full)}: {exc}") from None


# Permanent conditions: retrying cannot help, so they fail at once with a message that says why.
_READ_ONLY = re.compile(r"(?i)readonly database|read-only|read only|25006|permission denied")
_FULL = re.compile(r"(?i)database or disk is full|disk is full|no space left|could not extend file|53100|diskfull")
_CORRUPT = re.compile(r"(?i)file is not a database|database disk image is malformed|file is encrypted")
# Mistakes in the schema, not in the weather: a retry meets the same error.
_SCHEMA = re.compile(r"(?i)no such (?:table|column)|has no column|syntax error|does not exist")


def describe_db_error(exc: BaseException) -> tuple[str, bool]:
    """A one-line reason for a database error, and whether retrying may help."""
    short = _short(exc) if isinstance(exc, DBAPIError) else str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    code = getattr(getattr(exc, "orig", None), "sqlstate", None) or ""
    probe = f"{short} {code}"
    if _READ_ONLY.search(probe):
        return f"the database is read-only ({short}); check the file and directory permissions or the server", False
    if _FULL.search(probe):
        return f"the database is full ({short}); free disk space or raise the size limit", False
    if _CORRUPT.search(probe):
        return f"the database file is damaged or not a database ({short})", False
    # Anything else (locked, busy, connection refused or reset, server restarting) may pass.
    return short, not _SCHEMA.search(probe)


def with_retries(fn: Callable[[], T], what: str, attempts: int = 4, base_delay: float = 0.5,
                 max_delay: float = 8.0) -> T:
    """Call ``fn``; on a transient database error retry with backoff, then raise StoreError.

    A read-only, full or damaged database fails at once: waiting does not fix it.
    """
    for i in range(attempts):
        try:
            return fn()
        except StoreError as exc:
            if not getattr(exc, "transient", False) or i == attempts - 1:
                raise
            reason = str(exc)
        except (OperationalError, InternalError) as exc:
            reason, transient = describe_db_error(exc)
            if not transient or i == attempts - 1:
                raise StoreError(f"{what}: {reason}") from None
        delay = min(max_delay, base_delay * (2**i)) * (0.5 + random.random() / 2)
        log.warning("database busy or unreachable (%s); retrying in %.1fs (attempt %d of %d)",
                    reason, delay, i + 2, attempts)
        time.sleep(delay)
    raise AssertionError("unreachable")


def _short(exc: DBAPIError) -> str:
    text = str(exc.orig).strip() if exc.orig else str(exc)
    line = text.splitlines()[0] if text else type(exc).__name__
    return mask_url_credentials(line)[:300]


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    s = factory()
    try:
        yield s
        s.commit()
    except (OperationalError, InternalError) as exc:
        _rollback_quietly(s)
        reason, transient = describe_db_error(exc)
        if isinstance(exc, InternalError) and not _READ_ONLY.search(reason):
            raise
        # One line for the user; the SQL statement and its parameters (post text) stay out of it.
        err = StoreError(f"database {safe_url(str(s.get_bind().url))}: {reason}; the transaction was rolled back")
        err.transient = transient  # type: ignore[attr-defined]
        raise err from None
    except BaseException:
        _rollback_quietly(s)
        raise
    finally:
        s.close()


def _rollback_quietly(s: Session) -> None:
    try:
        s.rollback()
    except Exception:  # noqa: BLE001 - the connection may be gone; the transaction is lost anyway
        log.debug("rollback failed", exc_info=True)


# --- migrations ---------------------------------------------------------------------------


def alembic_dir() -> Path:
    """The migration scripts: repo-root ``alembic/`` (editable install) or the packaged copy."""
    pkg = Path(listener.__file__).resolve().parent
    for candidate in (pkg.parent / "alembic", pkg / "data" / "alembic"):
        if (candidate / "env.py").is_file():
            return candidate
    raise StoreError("the Alembic migration scripts are missing from this installation")


def alembic_config(engine: Engine):  # noqa: ANN201 - alembic.config.Config
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(alembic_dir()))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    cfg = alembic_config(None)  # type: ignore[arg-type]
    return ScriptDirectory.from_config(cfg).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate to ``revision``; returns (before, after)."""
    from alembic import command

    def go() -> tuple[str | None, str | None]:
        before = current_revision(engine)
        command.upgrade(alembic_config(engine), revision)
        return before, current_revision(engine)

    return with_retries(go, f"database {safe_url(str(engine.url))}")


def downgrade(engine: Engine, revision: str) -> tuple[str | None, str | None]:
    from alembic import command

    before = current_revision(engine)
    command.downgrade(alembic_config(engine), revision)
    return before, current_revision(engine)


# The newest migration in alembic/versions (a test keeps the two equal): a store already at it
# is recognised by one query, without loading Alembic (a tenth of a second for every command).
HEAD_REVISION = "0005"


def _at_head(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD_REVISION]
    except DBAPIError:  # no such table (an empty database) or unreachable: the full check says which
        return False


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse one whose schema is behind the code."""
    if _at_head(engine):
        return

    def check() -> str | None:
        return current_revision(engine)

    where = f"database {safe_url(str(engine.url))}"
    current = with_retries(check, where)
    head = head_revision()
    if current == head:
        return
    if current is None:
        tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
        if tables:
            raise StoreError(f"{where}: has tables but no migration history; not touching it")
        log.info("creating the database schema in %s", where)
        upgrade(engine)
        return
    raise StoreError(f"{where}: schema is at revision {current}, this version needs {head}: run `listener db upgrade`")


def open_store(url: str | None, create: bool = True) -> tuple[Engine, sessionmaker[Session]]:
    """Engine and session factory for ``url``, its schema created or checked."""
    engine = make_engine(url)

    def ping() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    with_retries(ping, f"database {safe_url(str(engine.url))} is unreachable", attempts=3)
    if create:
        ensure_schema(engine)
    return engine, session_factory(engine)
