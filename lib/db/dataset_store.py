"""Datasets, their examples and every version of them.

Every change is written at once, in one transaction, together with a change log:
each version records, per example, the row before and after. From that log any
earlier version can be rebuilt, restored, and the latest changes undone.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lib.db.connection import connect, now, transaction
from lib.errors import DatasetError

STATUSES = ("draft", "approved", "rejected")
Example = dict[str, Any]  # one line of a training file (lib.curate.examples works on them)


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
    number: int = 0  # 1, 2, 3 ... within its dataset (ids are shared by all datasets)


@dataclass
class _Change:
    example_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None = field(default=None)


# ---- datasets ---------------------------------------------------------------------------

_DATASET_QUERY = """
    SELECT d.id, d.name, d.created_at, d.updated_at,
           (SELECT COUNT(*) FROM examples e WHERE e.dataset_id = d.id),
           (SELECT COALESCE(MAX(v.id), 0) FROM versions v WHERE v.dataset_id = d.id)
    FROM datasets d
"""


def list_datasets() -> list[Dataset]:
    with connect() as conn:
        return [Dataset(*r) for r in conn.execute(_DATASET_QUERY + " ORDER BY d.name COLLATE NOCASE")]


def get_dataset(dataset_id: int) -> Dataset:
    with connect() as conn:
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
    with transaction() as conn:
        return _create(conn, name, "Created")


def _create(conn: sqlite3.Connection, name: str, summary: str) -> Dataset:
    stamp = now()
    cursor = conn.execute(
        "INSERT INTO datasets (name, created_at, updated_at) VALUES (?, ?, ?)", (_clean_name(conn, name), stamp, stamp)
    )
    dataset_id = int(cursor.lastrowid or 0)
    _apply(conn, dataset_id, summary, [])
    return _get_dataset(conn, dataset_id)


def rename_dataset(dataset_id: int, name: str) -> Dataset:
    with transaction() as conn:
        _get_dataset(conn, dataset_id)
        clean = _clean_name(conn, name, exclude=dataset_id)
        conn.execute("UPDATE datasets SET name = ?, updated_at = ? WHERE id = ?", (clean, now(), dataset_id))
        return _get_dataset(conn, dataset_id)


def duplicate_dataset(dataset_id: int, name: str) -> Dataset:
    with transaction() as conn:
        source = _get_dataset(conn, dataset_id)
        copy = _create(conn, name, f"Duplicated from '{source.name}'")
        records = [_record(row) for row in _rows(conn, dataset_id)]
        _apply(conn, copy.id, f"Copied {len(records)} examples", [_Change(None, None, r) for r in records])
        return _get_dataset(conn, copy.id)


def delete_dataset(dataset_id: int) -> None:
    with transaction() as conn:
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
    with connect() as conn:
        _get_dataset(conn, dataset_id)
        return _rows(conn, dataset_id)


def add_rows(dataset_id: int, new_rows: Iterable[NewRow], summary: str | None = None) -> Version:
    with transaction() as conn:
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
    with transaction() as conn:
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
    with transaction() as conn:
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
    stamp = now()
    cursor = conn.execute(
        "INSERT INTO versions (dataset_id, created_at, summary, n_examples, undoes) VALUES (?, ?, ?, 0, ?)",
        (dataset_id, stamp, summary, undoes),
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
    conn.execute("UPDATE datasets SET updated_at = ? WHERE id = ?", (stamp, dataset_id))
    return Version(version_id, dataset_id, stamp, summary, n_examples, undoes, _number(conn, dataset_id, version_id))


def _number(conn: sqlite3.Connection, dataset_id: int, version_id: int) -> int:
    """A version's number within its dataset."""
    query = "SELECT COUNT(*) FROM versions WHERE dataset_id = ? AND id <= ?"
    return int(conn.execute(query, (dataset_id, version_id)).fetchone()[0])


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
    with connect() as conn:
        _get_dataset(conn, dataset_id)
        found = conn.execute(_VERSIONS_QUERY, (dataset_id,)).fetchall()
    return [Version(r[0], r[1], r[2], r[3], r[4], r[5], len(found) - i) for i, r in enumerate(found)]


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
    with connect() as conn:
        _check_version(conn, dataset_id, version_id)
        state = _state_at(conn, dataset_id, version_id)
    ordered = sorted(state.items(), key=lambda item: (item[1]["position"], item[0]))
    return [Row(i, r["position"], r["example"], r["status"], r["tags"], r["note"]) for i, r in ordered]


def restore(dataset_id: int, version_id: int) -> Version:
    """Make the dataset what it was at ``version_id``; recorded as a new version, so it can be undone."""
    with transaction() as conn:
        _check_version(conn, dataset_id, version_id)
        target = _state_at(conn, dataset_id, version_id)
        current = {row.id: _record(row) for row in _rows(conn, dataset_id)}
        changes = [_Change(i, current.get(i), target.get(i)) for i in sorted(current.keys() | target.keys())]
        changes = [c for c in changes if c.before != c.after]
        return _apply(conn, dataset_id, f"Restored version {_number(conn, dataset_id, version_id)}", changes)


def undoable(dataset_id: int) -> Version | None:
    """The latest change that has not been undone yet (what "Undo" would revert)."""
    with connect() as conn:
        return _undoable(conn, dataset_id)


def _undoable(conn: sqlite3.Connection, dataset_id: int) -> Version | None:
    undone: set[int] = set()
    for row in conn.execute(_VERSIONS_QUERY, (dataset_id,)):
        version = Version(*row)  # its number is not needed here
        if version.undoes is not None:
            undone.add(version.undoes)
        elif version.id not in undone:
            has_changes = conn.execute("SELECT 1 FROM changes WHERE version_id = ? LIMIT 1", (version.id,)).fetchone()
            if has_changes:
                return version
    return None


def undo(dataset_id: int) -> Version | None:
    """Revert the latest change not yet undone; pressing again goes further back. None: nothing to undo."""
    with transaction() as conn:
        target = _undoable(conn, dataset_id)
        if target is None:
            return None
        logged = conn.execute(
            "SELECT example_id, before, after FROM changes WHERE version_id = ? ORDER BY rowid DESC", (target.id,)
        ).fetchall()
        changes = [_Change(example_id, _load(after), _load(before)) for example_id, before, after in logged]
        return _apply(conn, dataset_id, f"Undone: {target.summary}", changes, undoes=target.id)
