"""The app's database: datasets, their examples and every version of them.

One SQLite file (``studio.db`` under STUDIO_DATA_DIR), WAL, numbered migrations.
Every change is written at once, in one transaction, together with a change log:
each version records, per example, the row before and after. From that log any
earlier version can be rebuilt, restored, and the latest changes undone.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lib.errors import DatasetError
from lib.examples import Example
from lib.paths import data_dir

STATUSES = ("draft", "approved", "rejected")
DB_NAME = "studio.db"


@dataclass(frozen=True)
class Dataset:
    id: int
    name: str
    created_at: str
    updated_at: str
    n_examples: int
    version_id: int  # the latest version: changes whenever the dataset does


@dataclass(frozen=True)
class Row:
    """One example of a dataset with its curation fields."""

    id: int
    position: int
    example: Example
    status: str = "draft"
    tags: str = ""
    note: str = ""


@dataclass(frozen=True)
class NewRow:
    example: Example
    status: str = "draft"
    tags: str = ""
    note: str = ""


@dataclass(frozen=True)
class Version:
    id: int
    dataset_id: int
    created_at: str
    summary: str
    n_examples: int
    undoes: int | None = None


@dataclass
class _Change:
    example_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None = field(default=None)


def _execute_all(conn: sqlite3.Connection, script: str) -> None:
    """Run ;-separated statements inside the current transaction (executescript would commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _create_tables(conn: sqlite3.Connection) -> None:
    _execute_all(
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
    _execute_all(
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


# Numbered schema migrations: MIGRATIONS[i] takes the schema from version i to i + 1.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _create_tables,
    _add_price_overrides,
    _add_job_provenance,
    _add_evaluations,
]


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
def _connect() -> Iterator[sqlite3.Connection]:
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
def _transaction() -> Iterator[sqlite3.Connection]:
    with _connect() as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


# ---- datasets ---------------------------------------------------------------------------

_DATASET_QUERY = """
    SELECT d.id, d.name, d.created_at, d.updated_at,
           (SELECT COUNT(*) FROM examples e WHERE e.dataset_id = d.id),
           (SELECT COALESCE(MAX(v.id), 0) FROM versions v WHERE v.dataset_id = d.id)
    FROM datasets d
"""


def list_datasets() -> list[Dataset]:
    with _connect() as conn:
        return [Dataset(*r) for r in conn.execute(_DATASET_QUERY + " ORDER BY d.name COLLATE NOCASE")]


def get_dataset(dataset_id: int) -> Dataset:
    with _connect() as conn:
        return _get_dataset(conn, dataset_id)


def _get_dataset(conn: sqlite3.Connection, dataset_id: int) -> Dataset:
    row = conn.execute(_DATASET_QUERY + " WHERE d.id = ?", (dataset_id,)).fetchone()
    if row is None:
        raise DatasetError(f"There is no dataset with id {dataset_id}: it may have been deleted.")
    return Dataset(*row)


def _clean_name(conn: sqlite3.Connection, name: str, exclude: int | None = None) -> str:
    name = " ".join(name.split())
    if not name:
        raise DatasetError("A dataset needs a name.")
    clash = conn.execute("SELECT id FROM datasets WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
    if clash and clash[0] != exclude:
        raise DatasetError(f"A dataset named '{name}' already exists: choose another name.")
    return name


def create_dataset(name: str) -> Dataset:
    with _transaction() as conn:
        return _create(conn, name, "Created")


def _create(conn: sqlite3.Connection, name: str, summary: str) -> Dataset:
    now = _now()
    cursor = conn.execute(
        "INSERT INTO datasets (name, created_at, updated_at) VALUES (?, ?, ?)", (_clean_name(conn, name), now, now)
    )
    dataset_id = int(cursor.lastrowid or 0)
    _apply(conn, dataset_id, summary, [])
    return _get_dataset(conn, dataset_id)


def rename_dataset(dataset_id: int, name: str) -> Dataset:
    with _transaction() as conn:
        _get_dataset(conn, dataset_id)
        clean = _clean_name(conn, name, exclude=dataset_id)
        conn.execute("UPDATE datasets SET name = ?, updated_at = ? WHERE id = ?", (clean, _now(), dataset_id))
        return _get_dataset(conn, dataset_id)


def duplicate_dataset(dataset_id: int, name: str) -> Dataset:
    with _transaction() as conn:
        source = _get_dataset(conn, dataset_id)
        copy = _create(conn, name, f"Duplicated from '{source.name}'")
        records = [_record(row) for row in _rows(conn, dataset_id)]
        _apply(conn, copy.id, f"Copied {len(records)} examples", [_Change(None, None, r) for r in records])
        return _get_dataset(conn, copy.id)


def delete_dataset(dataset_id: int) -> None:
    with _transaction() as conn:
        _get_dataset(conn, dataset_id)
        conn.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))


# ---- examples -------------------------------------------------------------------------


def _record(row: Row | NewRow, position: int | None = None) -> dict[str, Any]:
    return {
        "position": row.position if isinstance(row, Row) else position,
        "example": row.example,
        "status": row.status,
        "tags": normalize_tags(row.tags),
        "note": row.note,
    }


def normalize_tags(tags: str) -> str:
    """'a,b ,, a' -> 'a, b': trimmed, no blanks, no repeats, order kept."""
    seen: list[str] = []
    for tag in tags.split(","):
        tag = tag.strip()
        if tag and tag not in seen:
            seen.append(tag)
    return ", ".join(seen)


def _rows(conn: sqlite3.Connection, dataset_id: int) -> list[Row]:
    query = "SELECT id, position, body, status, tags, note FROM examples WHERE dataset_id = ? ORDER BY position, id"
    return [Row(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5]) for r in conn.execute(query, (dataset_id,))]


def rows(dataset_id: int) -> list[Row]:
    """The dataset's examples in order; row numbers shown to users are index + 1."""
    with _connect() as conn:
        _get_dataset(conn, dataset_id)
        return _rows(conn, dataset_id)


def add_rows(dataset_id: int, new_rows: Iterable[NewRow], summary: str | None = None) -> Version:
    with _transaction() as conn:
        _get_dataset(conn, dataset_id)
        start = conn.execute(
            "SELECT COALESCE(MAX(position), 0) FROM examples WHERE dataset_id = ?", (dataset_id,)
        ).fetchone()[0]
        changes = [_Change(None, None, _record(row, start + i)) for i, row in enumerate(new_rows, start=1)]
        for change in changes:
            _check_status(change.after)
        return _apply(conn, dataset_id, summary or f"Added {_plural(len(changes), 'example')}", changes)


def update_rows(dataset_id: int, updates: dict[int, dict[str, Any]], summary: str | None = None) -> Version:
    """Change fields (example, status, tags, note) of rows given by id."""
    with _transaction() as conn:
        current = {row.id: row for row in _rows(conn, dataset_id)}
        changes = []
        for row_id, fields in updates.items():
            if row_id not in current:
                raise DatasetError(f"Example {row_id} is no longer in this dataset: reload the page.")
            before = _record(current[row_id])
            after = {**before, **fields}
            after["tags"] = normalize_tags(after["tags"])
            _check_status(after)
            if after != before:
                changes.append(_Change(row_id, before, after))
        return _apply(conn, dataset_id, summary or f"Edited {_plural(len(changes), 'example')}", changes)


def delete_rows(dataset_id: int, row_ids: Iterable[int], summary: str | None = None) -> Version:
    with _transaction() as conn:
        current = {row.id: row for row in _rows(conn, dataset_id)}
        changes = [_Change(i, _record(current[i])) for i in dict.fromkeys(row_ids) if i in current]
        return _apply(conn, dataset_id, summary or f"Deleted {_plural(len(changes), 'example')}", changes)


def _check_status(record: dict[str, Any] | None) -> None:
    if record is not None and record["status"] not in STATUSES:
        raise DatasetError(f"Status '{record['status']}' is not one of {', '.join(STATUSES)}.")


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _apply(
    conn: sqlite3.Connection, dataset_id: int, summary: str, changes: list[_Change], undoes: int | None = None
) -> Version:
    """Write changes to the examples and log them as a new version, in the caller's transaction."""
    now = _now()
    cursor = conn.execute(
        "INSERT INTO versions (dataset_id, created_at, summary, n_examples, undoes) VALUES (?, ?, ?, 0, ?)",
        (dataset_id, now, summary, undoes),
    )
    version_id = int(cursor.lastrowid or 0)
    log = []
    for change in changes:
        after = change.after
        if change.before is None and after is not None:
            cursor = conn.execute(
                "INSERT INTO examples (id, dataset_id, position, body, status, tags, note) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: E501
                (change.example_id, dataset_id, after["position"], json.dumps(after["example"], ensure_ascii=False),
                 after["status"], after["tags"], after["note"]),
            )  # fmt: skip
            change.example_id = int(cursor.lastrowid or 0)
        elif after is None:
            conn.execute("DELETE FROM examples WHERE id = ? AND dataset_id = ?", (change.example_id, dataset_id))
        else:
            conn.execute(
                "UPDATE examples SET position = ?, body = ?, status = ?, tags = ?, note = ? WHERE id = ? AND dataset_id = ?",  # noqa: E501
                (after["position"], json.dumps(after["example"], ensure_ascii=False), after["status"], after["tags"],
                 after["note"], change.example_id, dataset_id),
            )  # fmt: skip
        log.append((version_id, change.example_id, _dump(change.before), _dump(after)))
    conn.executemany("INSERT INTO changes (version_id, example_id, before, after) VALUES (?, ?, ?, ?)", log)
    n_examples = conn.execute("SELECT COUNT(*) FROM examples WHERE dataset_id = ?", (dataset_id,)).fetchone()[0]
    conn.execute("UPDATE versions SET n_examples = ? WHERE id = ?", (n_examples, version_id))
    conn.execute("UPDATE datasets SET updated_at = ? WHERE id = ?", (now, dataset_id))
    return Version(version_id, dataset_id, now, summary, n_examples, undoes)


def _dump(record: dict[str, Any] | None) -> str | None:
    return None if record is None else json.dumps(record, ensure_ascii=False)


def _load(text: str | None) -> dict[str, Any] | None:
    return None if text is None else json.loads(text)


# ---- versions, restore and undo ----------------------------------------------------------


_VERSIONS_QUERY = """
    SELECT id, dataset_id, created_at, summary, n_examples, undoes FROM versions WHERE dataset_id = ? ORDER BY id DESC
"""


def versions(dataset_id: int) -> list[Version]:
    """Every version of a dataset, newest first."""
    with _connect() as conn:
        _get_dataset(conn, dataset_id)
        return [Version(*r) for r in conn.execute(_VERSIONS_QUERY, (dataset_id,))]


def _state_at(conn: sqlite3.Connection, dataset_id: int, version_id: int) -> dict[int, dict[str, Any]]:
    """The rows as they were right after ``version_id``: today's rows with later changes reversed."""
    state = {row.id: _record(row) for row in _rows(conn, dataset_id)}
    later = conn.execute(
        "SELECT c.example_id, c.before FROM changes c JOIN versions v ON v.id = c.version_id "
        "WHERE v.dataset_id = ? AND v.id > ? ORDER BY v.id DESC, c.rowid DESC",
        (dataset_id, version_id),
    )
    for example_id, before in later:
        if before is None:
            state.pop(example_id, None)
        else:
            state[example_id] = json.loads(before)
    return state


def _check_version(conn: sqlite3.Connection, dataset_id: int, version_id: int) -> None:
    found = conn.execute("SELECT 1 FROM versions WHERE id = ? AND dataset_id = ?", (version_id, dataset_id)).fetchone()
    if found is None:
        raise DatasetError(f"Version {version_id} does not belong to this dataset.")


def rows_at(dataset_id: int, version_id: int) -> list[Row]:
    """The dataset as it was at an earlier version (read only)."""
    with _connect() as conn:
        _check_version(conn, dataset_id, version_id)
        state = _state_at(conn, dataset_id, version_id)
    ordered = sorted(state.items(), key=lambda item: (item[1]["position"], item[0]))
    return [Row(i, r["position"], r["example"], r["status"], r["tags"], r["note"]) for i, r in ordered]


def restore(dataset_id: int, version_id: int) -> Version:
    """Make the dataset what it was at ``version_id``; recorded as a new version, so it can be undone."""
    with _transaction() as conn:
        _check_version(conn, dataset_id, version_id)
        target = _state_at(conn, dataset_id, version_id)
        current = {row.id: _record(row) for row in _rows(conn, dataset_id)}
        changes = [_Change(i, current.get(i), target.get(i)) for i in sorted(current.keys() | target.keys())]
        changes = [c for c in changes if c.before != c.after]
        return _apply(conn, dataset_id, f"Restored version {version_id}", changes)


def undoable(dataset_id: int) -> Version | None:
    """The latest change that has not been undone yet (what "Undo" would revert)."""
    with _connect() as conn:
        return _undoable(conn, dataset_id)


def _undoable(conn: sqlite3.Connection, dataset_id: int) -> Version | None:
    undone: set[int] = set()
    for row in conn.execute(_VERSIONS_QUERY, (dataset_id,)):
        version = Version(*row)
        if version.undoes is not None:
            undone.add(version.undoes)
        elif version.id not in undone:
            has_changes = conn.execute("SELECT 1 FROM changes WHERE version_id = ? LIMIT 1", (version.id,)).fetchone()
            if has_changes:
                return version
    return None


def undo(dataset_id: int) -> Version | None:
    """Revert the latest change not yet undone; pressing again goes further back. None: nothing to undo."""
    with _transaction() as conn:
        target = _undoable(conn, dataset_id)
        if target is None:
            return None
        logged = conn.execute(
            "SELECT example_id, before, after FROM changes WHERE version_id = ? ORDER BY rowid DESC", (target.id,)
        ).fetchall()
        changes = [_Change(example_id, _load(after), _load(before)) for example_id, before, after in logged]
        return _apply(conn, dataset_id, f"Undid: {target.summary}", changes, undoes=target.id)


# ---- price overrides ---------------------------------------------------------------------


def price_overrides() -> dict[str, dict[str, float]]:
    """The user's own prices, by model and field (training, tuned_input, ...)."""
    overrides: dict[str, dict[str, float]] = {}
    with _connect() as conn:
        for model, field_name, value in conn.execute("SELECT model, field, value FROM price_overrides"):
            overrides.setdefault(model, {})[field_name] = value
    return overrides


def set_price_override(model: str, field_name: str, value: float | None) -> None:
    """Override one price (None goes back to the listed price)."""
    if value is not None and (value < 0 or value != value):
        raise DatasetError("A price must be a number of dollars, zero or more.")
    with _transaction() as conn:
        conn.execute("DELETE FROM price_overrides WHERE model = ? AND field = ?", (model, field_name))
        if value is not None:
            conn.execute("INSERT INTO price_overrides VALUES (?, ?, ?)", (model, field_name, value))


# ---- job provenance -----------------------------------------------------------------------


@dataclass(frozen=True)
class Provenance:
    """Which dataset version, uploaded as which files, made which job and tuned model."""

    provider: str
    job_id: str
    dataset_id: int
    dataset_name: str
    version_id: int
    n_examples: int
    training_file: str
    validation_file: str | None
    base_model: str
    fine_tuned_model: str | None = None
    created_at: str = ""


def record_job(record: Provenance) -> None:
    with _transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO job_provenance VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.provider,
                record.job_id,
                record.dataset_id,
                record.dataset_name,
                record.version_id,
                record.n_examples,
                record.training_file,
                record.validation_file,
                record.base_model,
                record.fine_tuned_model,
                record.created_at or _now(),
            ),
        )


def set_tuned_model(provider: str, job_id: str, model: str) -> None:
    """Note the tuned model a recorded job produced (once it has one)."""
    with _transaction() as conn:
        conn.execute(
            "UPDATE job_provenance SET fine_tuned_model = ? WHERE provider = ? AND job_id = ?",
            (model, provider, job_id),
        )


def job_provenance(provider: str) -> dict[str, Provenance]:
    """The recorded jobs of a provider, by job id."""
    with _connect() as conn:
        found = conn.execute("SELECT * FROM job_provenance WHERE provider = ?", (provider,)).fetchall()
    return {row[1]: Provenance(*row) for row in found}


# ---- evaluation runs, answers and ratings -------------------------------------------------


@dataclass(frozen=True)
class EvalRun:
    id: int
    name: str
    created_at: str
    provider: str
    prompt_source: str
    settings: dict[str, Any]  # temperature, max_tokens, seed, rubric, shots source
    contenders: list[dict[str, Any]]  # label, model, shots


@dataclass(frozen=True)
class StoredAnswer:
    position: int
    contender: str
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cost_usd: float


@dataclass(frozen=True)
class Rating:
    run_id: int
    reviewer: str
    position: int
    left: str
    right: str
    winner: str  # a contender's label, or "tie"
    scores: dict[str, list[int]]  # contender label -> one score per rubric criterion
    note: str = ""
    created_at: str = ""


def create_run(
    name: str,
    provider: str,
    prompt_source: str,
    settings: dict[str, Any],
    contenders: list[dict[str, Any]],
    items: list[list[dict[str, Any]]],
) -> EvalRun:
    """Save a run's settings and prompts (each a list of chat messages) before any answer exists."""
    if not items:
        raise DatasetError("The prompt set has no prompts.")
    with _transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO eval_runs (name, created_at, provider, prompt_source, settings, contenders) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                name.strip() or "Evaluation",
                _now(),
                provider,
                prompt_source,
                json.dumps(settings),
                json.dumps(contenders),
            ),
        )
        run_id = int(cursor.lastrowid or 0)
        conn.executemany(
            "INSERT INTO eval_items VALUES (?, ?, ?)",
            [(run_id, position, json.dumps(messages)) for position, messages in enumerate(items, start=1)],
        )
    return get_run(run_id)


def _run(row: tuple[Any, ...]) -> EvalRun:
    return EvalRun(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), json.loads(row[6]))


def get_run(run_id: int) -> EvalRun:
    with _connect() as conn:
        row = conn.execute("SELECT * FROM eval_runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise DatasetError(f"There is no evaluation run {run_id}.")
    return _run(row)


def list_runs() -> list[EvalRun]:
    """Every evaluation run, newest first."""
    with _connect() as conn:
        return [_run(row) for row in conn.execute("SELECT * FROM eval_runs ORDER BY id DESC")]


def run_items(run_id: int) -> dict[int, list[dict[str, Any]]]:
    """The run's prompts by position (1 is the first)."""
    with _connect() as conn:
        found = conn.execute("SELECT position, messages FROM eval_items WHERE run_id = ? ORDER BY position", (run_id,))
        return {position: json.loads(messages) for position, messages in found}


def save_answer(run_id: int, answer: StoredAnswer) -> None:
    with _transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO eval_answers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, answer.position, answer.contender, answer.text, answer.prompt_tokens,
             answer.completion_tokens, answer.latency_s, answer.cost_usd),
        )  # fmt: skip


def run_answers(run_id: int) -> list[StoredAnswer]:
    with _connect() as conn:
        found = conn.execute(
            "SELECT position, contender, text, prompt_tokens, completion_tokens, latency_s, cost_usd "
            "FROM eval_answers WHERE run_id = ? ORDER BY position, contender",
            (run_id,),
        )
        return [StoredAnswer(*row) for row in found]


def save_rating(rating: Rating) -> None:
    """Save (or replace) one reviewer's rating of one item, in its own transaction."""
    if not rating.reviewer.strip():
        raise DatasetError("Give your name before rating.")
    with _transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO ratings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rating.run_id, rating.reviewer.strip(), rating.position, rating.left, rating.right, rating.winner,
             json.dumps(rating.scores), rating.note, rating.created_at or _now()),
        )  # fmt: skip


def run_ratings(run_id: int, reviewer: str | None = None) -> list[Rating]:
    query = "SELECT * FROM ratings WHERE run_id = ?" + (" AND reviewer = ?" if reviewer is not None else "")
    arguments: tuple[Any, ...] = (run_id,) if reviewer is None else (run_id, reviewer.strip())
    with _connect() as conn:
        found = conn.execute(query + " ORDER BY created_at, reviewer, position", arguments).fetchall()
    return [Rating(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], r[8]) for r in found]
