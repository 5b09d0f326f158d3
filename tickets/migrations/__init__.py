"""Alembic, run in-process: no alembic.ini at run time, the config is built here.

    await migrate("sqlite+aiosqlite:///var/lib/hotline-pbx/hotline.db")   # upgrade to head

`CallRecordStore.open()` does the same on its own engine. Both are idempotent, and a store
created before migrations existed (call_records without alembic_version) is adopted as
revision 0001 and then upgraded. On PostgreSQL a transaction-scoped advisory lock keeps two
controllers starting at once from migrating the same database together.

For a DBA who wants the SQL instead: `alembic_config(url)` with `command.upgrade(cfg, "head",
sql=True)` prints it (offline mode).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tickets.files import private_file, tighten

HERE = Path(__file__).resolve().parent
ADOPTED_REVISION = "0001"  # what a pre-Alembic store (one call_records table) corresponds to
_PG_LOCK = 0x12345_0001  # advisory lock key: "hotline migrations"


def private_database(url: str) -> None:
    """A SQLite file is made 0600, in folders made 0700, before SQLite opens it (the default
    lives under /var/lib/hotline-pbx/): SQLite gives its -wal and -shm files the database
    file's mode, so they are private too, whatever the umask. An existing file, -wal or -shm
    that others may read is tightened (tickets.files says so in the log)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:" \
            or parsed.database.startswith("file:"):
        return
    path = Path(parsed.database)
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        tighten(path.with_name(path.name + suffix))


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic Config pointing at this folder; give a live connection, or a URL."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection) -> None:
    """Bring the database behind `connection` to head (sync: run it with `run_sync`)."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(_PG_LOCK)))
    config = alembic_config(connection=connection)
    tables = set(inspect(connection).get_table_names())
    if "call_records" in tables and "alembic_version" not in tables:
        command.stamp(config, ADOPTED_REVISION)
    command.upgrade(config, "head")


def current(connection: Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def migrate(url: str, **engine_options: Any) -> None:
    """Upgrade the database at `url` to head, in one transaction where the database allows."""
    private_database(url)
    engine = create_async_engine(url, **engine_options)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade)
    finally:
        await engine.dispose()
