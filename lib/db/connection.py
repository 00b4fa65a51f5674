"""The store: SQLite (``studio.db`` under STUDIO_DATA_DIR, WAL mode) or PostgreSQL (STUDIO_DATABASE_URL).

Both go through SQLAlchemy Core; the schema is brought up to date by Alembic on first use, under a lock,
so several app processes starting at once migrate it once. Transactions are short: each write is one.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Insert, Table, create_engine, event, func, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from lib import settings
from lib.errors import StudioError
from lib.settings import data_dir

DB_NAME = "studio.db"
URL_VARIABLE = "STUDIO_DATABASE_URL"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
OLD_REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007")  # PRAGMA user_version 1..7 before Alembic
_ADVISORY_LOCK = 7_042_001  # PostgreSQL: one migrating process at a time


class StoreError(StudioError):
    """The configured database cannot be used."""


@dataclass(frozen=True)
class Store:
    """Which database the app uses, in words a user can check."""

    engine: str  # "SQLite" or "PostgreSQL"
    where: str  # the file, or host/database (never the password)


def database_url() -> str:
    """STUDIO_DATABASE_URL when set (the app copies it there from st.secrets), else SQLite under the data dir."""
    configured = settings.database_url()
    if configured:
        return configured
    return URL.create("sqlite+pysqlite", database=str(data_dir() / DB_NAME)).render_as_string()


def describe(url: str | None = None) -> Store:
    parsed = _parse(url or database_url())
    if parsed.get_backend_name() == "sqlite":
        return Store("SQLite", str(parsed.database))
    return Store(
        "PostgreSQL", f"{parsed.host or 'localhost'}{':' + str(parsed.port) if parsed.port else ''}/{parsed.database}"
    )


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"{URL_VARIABLE} is not a database URL (e.g. postgresql+psycopg://user:pass@host/studio)."
        ) from None
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # the driver requirements.txt installs
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"{URL_VARIABLE} names {parsed.get_backend_name()}: the app stores in SQLite or PostgreSQL.")
    return parsed


@functools.cache
def _engine(url: str) -> Engine:
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, poolclass=NullPool, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's begin event below says BEGIN, not the driver
    for pragma in ("journal_mode = WAL", "foreign_keys = ON", "synchronous = NORMAL"):
        dbapi_connection.execute(f"PRAGMA {pragma}")


def _sqlite_begin(conn: Connection) -> None:
    # A write takes the lock when it starts, so two writers never deadlock upgrading a read lock.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")


_current: set[str] = set()  # URLs whose schema this process has seen up to date
_migrating = threading.Lock()


def engine() -> Engine:
    url = database_url()
    found = _engine(url)
    sqlite_file = found.url.database if found.dialect.name == "sqlite" else None
    if url not in _current or (sqlite_file and not Path(sqlite_file).exists()):
        if sqlite_file and not Path(sqlite_file).exists():
            os.close(os.open(sqlite_file, os.O_CREAT | os.O_WRONLY, 0o600))  # the user's data: readable by them only
        with _migrating:
            _migrate(found)
            _current.add(url)
    return found


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@functools.cache
def head_revision() -> str:
    """The newest schema revision: a database at it needs no migration."""
    return str(ScriptDirectory.from_config(_alembic_config()).get_current_head())


def forget_engines() -> None:
    """Close every pooled connection and forget the engines (tests switch databases between tests)."""
    for url in list(_current):
        _engine(url).dispose()
    _engine.cache_clear()
    _current.clear()


def _migrate(found: Engine) -> None:
    config = _alembic_config()
    head = head_revision()
    try:
        conn = found.connect()
    except Exception as error:  # a wrong host, password or database: say so once, in words
        store = describe(found.url.render_as_string(hide_password=False))
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise StoreError(f"Cannot open the database {store.engine} ({store.where}): {reason}") from None
    with conn:
        if MigrationContext.configure(conn).get_current_revision() == head:
            conn.rollback()
            return
        conn.rollback()
        with conn.execution_options(write=True).begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
            config.attributes["connection"] = conn
            if MigrationContext.configure(conn).get_current_revision() is None:
                old = _pre_alembic_version(conn)
                if old:  # a database from before Alembic: mark what it has, then upgrade from there
                    command.stamp(config, OLD_REVISIONS[old - 1])
            command.upgrade(config, "head")


def _pre_alembic_version(conn: Connection) -> int:
    if conn.dialect.name != "sqlite":
        return 0
    return min(int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0), len(OLD_REVISIONS))


@contextmanager
def connect() -> Iterator[Connection]:
    """A connection for reading (its transaction is rolled back at the end)."""
    with engine().connect() as conn:
        yield conn


@contextmanager
def transaction() -> Iterator[Connection]:
    """One transaction for writing: committed when the block ends, rolled back on any error."""
    with engine().connect() as conn, conn.execution_options(write=True).begin():
        yield conn


def upsert(conn: Connection, table: Table, row: Mapping[str, Any], keys: Sequence[str], case_blind: str = "") -> None:
    """Insert ``row``, or update the row with the same ``keys`` (a unique key's columns).

    ``case_blind``: a key column compared without regard to case (NOCASE on SQLite, lower() on PostgreSQL).
    """
    postgres = conn.dialect.name == "postgresql"
    insert = (postgresql.insert if postgres else sqlite.insert)(table).values(**row)
    targets: list[Any] = [func.lower(table.c[k]) if postgres and k == case_blind else k for k in keys]
    updates = {name: insert.excluded[name] for name in row}
    conn.execute(insert.on_conflict_do_update(index_elements=targets, set_=updates))


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def insert_id(conn: Connection, statement: Insert) -> int:
    """Run an INSERT of one row and return the id the database gave it."""
    key = conn.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])
