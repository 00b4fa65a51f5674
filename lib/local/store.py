"""The local server's records: files, fine-tuning jobs, their events and checkpoints, in one SQLite file.

Shared by the server process and the training worker (WAL mode, short transactions). Objects are
kept as the JSON the API returns, plus the columns needed to find and order them.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, object TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, status TEXT NOT NULL,
    stop_request TEXT, object TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, job_id TEXT NOT NULL, object TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_job ON events (job_id, seq);
CREATE TABLE IF NOT EXISTS checkpoints (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, job_id TEXT NOT NULL,
    model TEXT UNIQUE NOT NULL, path TEXT NOT NULL, object TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deleted_models (id TEXT PRIMARY KEY);
"""
TABLES = ("files", "jobs", "events", "checkpoints")


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def now() -> int:
    return int(time.time())


class LocalStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")  # kept in the file: set once, so a full disk still allows reads
            conn.executescript(SCHEMA)
        # One connection held open for the store's life keeps the WAL index (-shm) allocated: without it each
        # new connection must grow that file first, which fails on a full disk and would fail every read too.
        self._keeper = sqlite3.connect(self.path, check_same_thread=False)
        self._keeper.execute("SELECT COUNT(*) FROM files").fetchone()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            yield conn
        finally:
            conn.close()

    def insert(self, table: str, obj: dict[str, Any], **columns: Any) -> dict[str, Any]:
        assert table in TABLES
        names = ["id", "object", *columns]
        values = [obj["id"], json.dumps(obj), *columns.values()]
        with self._connect() as conn:
            conn.execute(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                values,
            )
        return obj

    def get(self, table: str, object_id: str) -> dict[str, Any] | None:
        assert table in TABLES
        with self._connect() as conn:
            row = conn.execute(f"SELECT object FROM {table} WHERE id = ?", (object_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def update(self, table: str, object_id: str, **fields: Any) -> dict[str, Any]:
        """Set fields of a stored object (``status`` is mirrored into its column for the worker's queries)."""
        assert table in TABLES
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(f"SELECT object FROM {table} WHERE id = ?", (object_id,)).fetchone()
            obj = json.loads(row[0]) | fields
            conn.execute(f"UPDATE {table} SET object = ? WHERE id = ?", (json.dumps(obj), object_id))
            if table == "jobs" and "status" in fields:
                conn.execute("UPDATE jobs SET status = ? WHERE id = ?", (fields["status"], object_id))
            conn.execute("COMMIT")
        return dict(obj)

    def delete(self, table: str, object_id: str) -> None:
        assert table in TABLES
        with self._connect() as conn:
            conn.execute(f"DELETE FROM {table} WHERE id = ?", (object_id,))

    def page(
        self, table: str, after: str | None, limit: int, job_id: str | None = None, newest_first: bool = True
    ) -> tuple[list[dict[str, Any]], bool]:
        """One cursor page: objects after the one with id ``after``, and whether there are more."""
        assert table in TABLES
        where, args = [], []
        if job_id is not None:
            where.append("job_id = ?")
            args.append(job_id)
        if after:
            where.append(f"seq {'<' if newest_first else '>'} (SELECT seq FROM {table} WHERE id = ?)")
            args.append(after)
        sql = f"SELECT object FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT ?"
        with self._connect() as conn:
            rows = conn.execute(sql, [*args, limit + 1]).fetchall()
        return [json.loads(r[0]) for r in rows[:limit]], len(rows) > limit

    def all(self, table: str, **where: Any) -> list[dict[str, Any]]:
        assert table in TABLES
        clause = " AND ".join(f"{k} = ?" for k in where) or "1"
        with self._connect() as conn:
            rows = conn.execute(f"SELECT object FROM {table} WHERE {clause} ORDER BY seq", list(where.values()))
            return [json.loads(r[0]) for r in rows.fetchall()]

    # Jobs: the queue and stop requests shared by the server and the worker.

    def claim_next_job(self) -> dict[str, Any] | None:
        """Atomically take the oldest queued job and mark it running."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT id, object FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                conn.execute("COMMIT")
                return None
            job = json.loads(row[1]) | {"status": "running"}
            conn.execute("UPDATE jobs SET status = 'running', object = ? WHERE id = ?", (json.dumps(job), row[0]))
            conn.execute("COMMIT")
        return dict(job)

    def transition(self, job_id: str, allowed: tuple[str, ...], **fields: Any) -> dict[str, Any] | None:
        """Set a job's fields only while its status is one of ``allowed``; None when it no longer is."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT status, object FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row[0] not in allowed:
                conn.execute("COMMIT")
                return None
            job = json.loads(row[1]) | fields
            status = fields.get("status", row[0])
            conn.execute("UPDATE jobs SET status = ?, object = ? WHERE id = ?", (status, json.dumps(job), job_id))
            conn.execute("COMMIT")
        return dict(job)

    def request_stop(self, job_id: str, kind: str | None) -> None:
        with self._connect() as conn:
            conn.execute("UPDATE jobs SET stop_request = ? WHERE id = ?", (kind, job_id))

    def stop_request(self, job_id: str) -> str | None:
        with self._connect() as conn:
            row = conn.execute("SELECT stop_request FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row[0] if row else None

    def jobs_with_status(self, status: str) -> list[dict[str, Any]]:
        return self.all("jobs", status=status)

    # Models

    def checkpoint_by_model(self, model: str) -> dict[str, Any] | None:
        with self._connect() as conn:
            row = conn.execute("SELECT path, object FROM checkpoints WHERE model = ?", (model,)).fetchone()
        return {"path": row[0], **json.loads(row[1])} if row else None

    def checkpoint_paths(self, job_id: str) -> list[tuple[str, str]]:
        with self._connect() as conn:
            return list(conn.execute("SELECT id, path FROM checkpoints WHERE job_id = ? ORDER BY seq", (job_id,)))

    def delete_model(self, model: str) -> None:
        with self._connect() as conn:
            conn.execute("INSERT OR IGNORE INTO deleted_models VALUES (?)", (model,))

    def deleted_models(self) -> set[str]:
        with self._connect() as conn:
            return {r[0] for r in conn.execute("SELECT id FROM deleted_models")}
