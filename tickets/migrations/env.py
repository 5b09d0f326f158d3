"""Alembic environment for the store.

In-process (the normal way): `tickets.migrations.upgrade(connection)` hands a live connection
in `config.attributes["connection"]` (an async engine's, through `run_sync`). Without one, the
URL in the config (`sqlalchemy.url`) is opened with an async engine, so the same folder also
works from the `alembic` command line; with `--sql` (offline) it prints the SQL instead.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from tickets.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url: use tickets.migrations.migrate(url)")
    asyncio.run(_run_with_url(url))
