"""The schema, as numbered migrations: MIGRATIONS[i] takes the database from version i to i + 1."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


def execute_all(conn: sqlite3.Connection, script: str) -> None:
    """Run ;-separated statements inside the current transaction (executescript would commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _create_tables(conn: sqlite3.Connection) -> None:
    execute_all(
        conn,
        """
        CREATE TABLE datasets (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE examples (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'draft',
            tags TEXT NOT NULL DEFAULT '',
            note TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX examples_by_dataset ON examples(dataset_id, position);
        CREATE TABLE versions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            summary TEXT NOT NULL,
            n_examples INTEGER NOT NULL,
            undoes INTEGER
        );
        CREATE INDEX versions_by_dataset ON versions(dataset_id, id);
        CREATE TABLE changes (
            version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
            example_id INTEGER NOT NULL,
            before TEXT,
            after TEXT
        );
        CREATE INDEX changes_by_version ON changes(version_id);
        """,
    )


def _add_price_overrides(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE price_overrides (
            model TEXT NOT NULL,
            field TEXT NOT NULL,
            value REAL NOT NULL,
            PRIMARY KEY (model, field)
        )
        """
    )


def _add_job_provenance(conn: sqlite3.Connection) -> None:
    # No foreign keys: the record of which data made which model outlives the dataset.
    conn.execute(
        """
        CREATE TABLE job_provenance (
            provider TEXT NOT NULL,
            job_id TEXT NOT NULL,
            dataset_id INTEGER NOT NULL,
            dataset_name TEXT NOT NULL,
            version_id INTEGER NOT NULL,
            n_examples INTEGER NOT NULL,
            training_file TEXT NOT NULL,
            validation_file TEXT,
            base_model TEXT NOT NULL,
            fine_tuned_model TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (provider, job_id)
        )
        """
    )


def _add_evaluations(conn: sqlite3.Connection) -> None:
    execute_all(
        conn,
        """
        CREATE TABLE eval_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            provider TEXT NOT NULL,
            prompt_source TEXT NOT NULL,
            settings TEXT NOT NULL,
            contenders TEXT NOT NULL
        );
        CREATE TABLE eval_items (
            run_id INTEGER NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            messages TEXT NOT NULL,
            PRIMARY KEY (run_id, position)
        );
        CREATE TABLE eval_answers (
            run_id INTEGER NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            contender TEXT NOT NULL,
            text TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            latency_s REAL NOT NULL,
            cost_usd REAL NOT NULL,
            PRIMARY KEY (run_id, position, contender)
        );
        CREATE TABLE ratings (
            run_id INTEGER NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,
            reviewer TEXT NOT NULL COLLATE NOCASE,
            position INTEGER NOT NULL,
            left_contender TEXT NOT NULL,
            right_contender TEXT NOT NULL,
            winner TEXT NOT NULL,
            scores TEXT NOT NULL,
            note TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (run_id, reviewer, position)
        )
        """,
    )


def _record_decisions(conn: sqlite3.Connection) -> None:
    """Train records the exact rows it trained and held out, and its cost estimate; eval items their source."""
    execute_all(
        conn,
        """
        ALTER TABLE job_provenance ADD COLUMN training_rows TEXT;
        ALTER TABLE job_provenance ADD COLUMN validation_rows TEXT;
        ALTER TABLE job_provenance ADD COLUMN estimated_cost_usd REAL;
        ALTER TABLE eval_items ADD COLUMN source TEXT
        """,
    )


def _add_repeat_ratings(conn: sqlite3.Connection) -> None:
    """Second looks at a few items, sides swapped, kept apart from the ratings the scorecard counts."""
    conn.execute(
        """
        CREATE TABLE repeat_ratings (
            run_id INTEGER NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,
            reviewer TEXT NOT NULL COLLATE NOCASE,
            position INTEGER NOT NULL,
            left_contender TEXT NOT NULL,
            right_contender TEXT NOT NULL,
            winner TEXT NOT NULL,
            scores TEXT NOT NULL,
            note TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (run_id, reviewer, position)
        )
        """
    )


def _add_knowledge(conn: sqlite3.Connection) -> None:
    """Knowledge sources for retrieval, versioned like datasets; the passages each answer was given."""
    execute_all(
        conn,
        """
        CREATE TABLE knowledge_sources (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE knowledge_versions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source_id INTEGER NOT NULL REFERENCES knowledge_sources(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            summary TEXT NOT NULL
        );
        CREATE TABLE knowledge_passages (
            version_id INTEGER NOT NULL REFERENCES knowledge_versions(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            file TEXT NOT NULL,
            origin TEXT NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (version_id, position)
        );
        ALTER TABLE eval_answers ADD COLUMN passages TEXT NOT NULL DEFAULT '[]'
        """,
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _create_tables,
    _add_price_overrides,
    _add_job_provenance,
    _add_evaluations,
    _record_decisions,
    _add_repeat_ratings,
    _add_knowledge,
]
