"""One SQLite file (``studio.db`` under STUDIO_DATA_DIR) in WAL mode, migrated on connect; short transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from lib.db.migrations import MIGRATIONS
from lib.paths import data_dir

DB_NAME = "studio.db"


def _schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _migrate(conn: sqlite3.Connection) -> None:
    if _schema_version(conn) >= len(MIGRATIONS):
        return
    conn.execute("BEGIN IMMEDIATE")  # one writer migrates; the others wait, then find nothing to do
    try:
        for number in range(_schema_version(conn), len(MIGRATIONS)):
            MIGRATIONS[number](conn)
            conn.execute(f"PRAGMA user_version = {number + 1}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def connect() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(data_dir() / DB_NAME, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        _migrate(conn)
        yield conn
    finally:
        conn.close()


@contextmanager
def transaction() -> Iterator[sqlite3.Connection]:
    with connect() as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
