"""Alembic environment: the engine comes from `listener db upgrade` (or the env var by hand)."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from listener.store.db import make_engine
from listener.store.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("engine") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    import os

    context.configure(url=os.environ.get("LISTENER_DATABASE_URL", "sqlite:///listener.db"),
                      target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    import os

    engine = config.attributes.get("engine") or make_engine(os.environ.get("LISTENER_DATABASE_URL"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
