"""A dataset's history, read back from the change log dataset_store.py writes: its versions, the rows as they
were at any of them, restoring one, and undoing the latest changes (each a new version, so it can be undone too).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select

from lib.curate.dataset import Row, Version
from lib.db.connection import connect, transaction
from lib.db.dataset_store import Change, apply_changes, dataset_in, number_in, record_of, rows_in
from lib.db.schema import changes as change_log
from lib.db.schema import versions as version_table
from lib.errors import DatasetError


def version_number(dataset_id: int, version_id: int) -> int:
    """The number History shows for a version (1 for a dataset's first); ids count across all datasets."""
    with connect() as conn:
        return number_in(conn, dataset_id, version_id)


def _load(text: str | None) -> dict[str, Any] | None:
    return None if text is None else json.loads(text)


def _versions_query(dataset_id: int) -> Any:
    v = version_table.c
    query = select(v.id, v.dataset_id, v.created_at, v.summary, v.n_examples, v.undoes)
    return query.where(v.dataset_id == dataset_id).order_by(v.id.desc())


def versions(dataset_id: int) -> list[Version]:
    """Every version of a dataset, newest first."""
    with connect() as conn:
        dataset_in(conn, dataset_id)
        found = conn.execute(_versions_query(dataset_id)).fetchall()
    return [Version(r[0], r[1], r[2], r[3], r[4], r[5], len(found) - i) for i, r in enumerate(found)]


def _state_at(conn: Connection, dataset_id: int, version_id: int) -> dict[int, dict[str, Any]]:
    """The rows as they were right after ``version_id``: today's rows with later changes reversed."""
    state = {row.id: record_of(row) for row in rows_in(conn, dataset_id)}
    c, v = change_log.c, version_table.c
    later = (
        select(c.example_id, c.before)
        .join(version_table, v.id == c.version_id)
        .where(v.dataset_id == dataset_id, v.id > version_id)
        .order_by(v.id.desc(), c.seq.desc())
    )
    for example_id, before in conn.execute(later):
        if before is None:
            state.pop(example_id, None)
        else:
            state[example_id] = json.loads(before)
    return state


def _check_version(conn: Connection, dataset_id: int, version_id: int) -> None:
    v = version_table.c
    found = conn.execute(select(v.id).where(v.id == version_id, v.dataset_id == dataset_id)).first()
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
        dataset_in(conn, dataset_id, lock=True)
        _check_version(conn, dataset_id, version_id)
        target = _state_at(conn, dataset_id, version_id)
        current = {row.id: record_of(row) for row in rows_in(conn, dataset_id)}
        changes = [Change(i, current.get(i), target.get(i)) for i in sorted(current.keys() | target.keys())]
        changes = [c for c in changes if c.before != c.after]
        return apply_changes(conn, dataset_id, f"Restored version {number_in(conn, dataset_id, version_id)}", changes)


def undoable(dataset_id: int) -> Version | None:
    """The latest change that has not been undone yet (what "Undo" would revert)."""
    with connect() as conn:
        return _undoable(conn, dataset_id)


def _undoable(conn: Connection, dataset_id: int) -> Version | None:
    undone: set[int] = set()
    for row in conn.execute(_versions_query(dataset_id)).fetchall():
        version = Version(*row)  # its number is not needed here
        if version.undoes is not None:
            undone.add(version.undoes)
        elif version.id not in undone:
            has_changes = conn.execute(select(change_log.c.seq).where(change_log.c.version_id == version.id).limit(1))
            if has_changes.first():
                return version
    return None


def undo(dataset_id: int) -> Version | None:
    """Revert the latest change not yet undone; pressing again goes further back. None: nothing to undo."""
    with transaction() as conn:
        dataset_in(conn, dataset_id, lock=True)
        target = _undoable(conn, dataset_id)
        if target is None:
            return None
        c = change_log.c
        logged = conn.execute(
            select(c.example_id, c.before, c.after).where(c.version_id == target.id).order_by(c.seq.desc())
        ).fetchall()
        changes = [Change(example_id, _load(after), _load(before)) for example_id, before, after in logged]
        return apply_changes(conn, dataset_id, f"Undone: {target.summary}", changes, undoes=target.id)
