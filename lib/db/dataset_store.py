"""Datasets, their examples and every version of them.

Every change is written at once, in one transaction, together with a change log:
each version records, per example, the row before and after. From that log any
earlier version can be rebuilt, restored, and the latest changes undone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from lib.curate.dataset import STATUSES, Dataset, NewRow, Row, Version
from lib.db.connection import connect, insert_id, now, transaction
from lib.db.schema import changes as change_log
from lib.db.schema import datasets, examples
from lib.db.schema import versions as version_table
from lib.errors import DatasetError
from lib.words import plural


@dataclass
class _Change:
    example_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None = field(default=None)


# ---- datasets ---------------------------------------------------------------------------

_DATASET_QUERY = select(
    datasets.c.id,
    datasets.c.name,
    datasets.c.created_at,
    datasets.c.updated_at,
    select(func.count()).select_from(examples).where(examples.c.dataset_id == datasets.c.id).scalar_subquery(),
    select(func.coalesce(func.max(version_table.c.id), 0))
    .where(version_table.c.dataset_id == datasets.c.id)
    .scalar_subquery(),
)


def list_datasets() -> list[Dataset]:
    with connect() as conn:
        return [Dataset(*r) for r in conn.execute(_DATASET_QUERY.order_by(func.lower(datasets.c.name)))]


def find_dataset(name: str) -> Dataset | None:
    """The dataset of that name (case and repeated spaces do not matter), if there is one."""
    wanted = " ".join(name.split()).lower()
    return next((d for d in list_datasets() if d.name.lower() == wanted), None)


def get_dataset(dataset_id: int) -> Dataset:
    with connect() as conn:
        return _get_dataset(conn, dataset_id)


def _get_dataset(conn: Connection, dataset_id: int, lock: bool = False) -> Dataset:
    """The dataset; with ``lock``, its row is held until the transaction ends, so writers to it go one at a time."""
    if lock and conn.dialect.name == "postgresql":
        conn.execute(select(datasets.c.id).where(datasets.c.id == dataset_id).with_for_update())
    row = conn.execute(_DATASET_QUERY.where(datasets.c.id == dataset_id)).fetchone()
    if row is None:
        raise DatasetError(f"There is no dataset with id {dataset_id}: it may have been deleted.")
    return Dataset(*row)


def _clean_name(conn: Connection, name: str, exclude: int | None = None) -> str:
    name = " ".join(name.split())
    if not name:
        raise DatasetError("A dataset needs a name.")
    clash = conn.execute(select(datasets.c.id).where(func.lower(datasets.c.name) == name.lower())).scalar()
    if clash is not None and clash != exclude:
        raise DatasetError(_taken(name))
    return name


def _taken(name: str) -> str:
    return f"A dataset named '{name}' already exists: choose another name."


def create_dataset(name: str, new_rows: Sequence[NewRow] = (), summary: str = "") -> Dataset:
    """A new dataset; with ``new_rows``, holding them already (one transaction: all or nothing)."""
    try:
        with transaction() as conn:
            created = _create(conn, name, "Created")
            if new_rows:
                changes = [_Change(None, None, _record(row, i)) for i, row in enumerate(new_rows, start=1)]
                for change in changes:
                    _check_status(change.after)
                _apply(conn, created.id, summary or f"Added {plural(len(changes), 'example')}", changes)
            return _get_dataset(conn, created.id)
    except IntegrityError:  # another curator took the name a moment ago
        raise DatasetError(_taken(" ".join(name.split()))) from None


def _create(conn: Connection, name: str, summary: str) -> Dataset:
    stamp = now()
    values = {"name": _clean_name(conn, name), "created_at": stamp, "updated_at": stamp}
    dataset_id = insert_id(conn, insert(datasets).values(**values))
    _apply(conn, dataset_id, summary, [])
    return _get_dataset(conn, dataset_id)


def rename_dataset(dataset_id: int, name: str) -> Dataset:
    try:
        with transaction() as conn:
            _get_dataset(conn, dataset_id, lock=True)
            clean = _clean_name(conn, name, exclude=dataset_id)
            conn.execute(update(datasets).where(datasets.c.id == dataset_id).values(name=clean, updated_at=now()))
            return _get_dataset(conn, dataset_id)
    except IntegrityError:
        raise DatasetError(_taken(" ".join(name.split()))) from None


def duplicate_dataset(dataset_id: int, name: str) -> Dataset:
    try:
        with transaction() as conn:
            source = _get_dataset(conn, dataset_id)
            copy = _create(conn, name, f"Duplicated from '{source.name}'")
            records = [_record(row) for row in _rows(conn, dataset_id)]
            _apply(conn, copy.id, f"Copied {len(records)} examples", [_Change(None, None, r) for r in records])
            return _get_dataset(conn, copy.id)
    except IntegrityError:
        raise DatasetError(_taken(" ".join(name.split()))) from None


def delete_dataset(dataset_id: int) -> None:
    with transaction() as conn:
        _get_dataset(conn, dataset_id, lock=True)
        conn.execute(delete(datasets).where(datasets.c.id == dataset_id))


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


def _rows(conn: Connection, dataset_id: int) -> list[Row]:
    e = examples.c
    query = (
        select(e.id, e.position, e.body, e.status, e.tags, e.note)
        .where(e.dataset_id == dataset_id)
        .order_by(e.position, e.id)
    )
    return [Row(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5]) for r in conn.execute(query)]


def rows(dataset_id: int) -> list[Row]:
    """The dataset's examples in order; row numbers shown to users are index + 1."""
    with connect() as conn:
        _get_dataset(conn, dataset_id)
        return _rows(conn, dataset_id)


def add_rows(dataset_id: int, new_rows: Iterable[NewRow], summary: str | None = None) -> Version:
    with transaction() as conn:
        _get_dataset(conn, dataset_id, lock=True)
        changes = _added(conn, dataset_id, new_rows)
        return _apply(conn, dataset_id, summary or f"Added {plural(len(changes), 'example')}", changes)


def update_rows(dataset_id: int, updates: dict[int, dict[str, Any]], summary: str | None = None) -> Version:
    """Change fields (example, status, tags, note) of rows given by id."""
    with transaction() as conn:
        _get_dataset(conn, dataset_id, lock=True)
        changes = _updated(conn, dataset_id, updates)
        return _apply(conn, dataset_id, summary or f"Edited {plural(len(changes), 'example')}", changes)


def delete_rows(dataset_id: int, row_ids: Iterable[int], summary: str | None = None) -> Version:
    with transaction() as conn:
        _get_dataset(conn, dataset_id, lock=True)
        changes = _deleted(conn, dataset_id, row_ids)
        return _apply(conn, dataset_id, summary or f"Deleted {plural(len(changes), 'example')}", changes)


def edit_rows(
    dataset_id: int, updates: dict[int, dict[str, Any]], added: Sequence[NewRow], deleted: Sequence[int]
) -> Version:
    """One table edit (cells changed, rows added and deleted at once) as one version: one undo step."""
    with transaction() as conn:
        _get_dataset(conn, dataset_id, lock=True)
        kept = {row_id: fields for row_id, fields in updates.items() if row_id not in set(deleted)}
        edited, removed = _updated(conn, dataset_id, kept), _deleted(conn, dataset_id, deleted)
        new = _added(conn, dataset_id, added)
        said = [f"{verb} {plural(len(done), 'example')}" for verb, done in
                (("edited", edited), ("added", new), ("deleted", removed)) if done]  # fmt: skip
        summary = ", ".join(said).capitalize() if said else "Edited nothing"
        return _apply(conn, dataset_id, summary, [*edited, *removed, *new])


def _added(conn: Connection, dataset_id: int, new_rows: Iterable[NewRow]) -> list[_Change]:
    last = select(func.coalesce(func.max(examples.c.position), 0)).where(examples.c.dataset_id == dataset_id)
    start = int(conn.execute(last).scalar_one())
    changes = [_Change(None, None, _record(row, start + i)) for i, row in enumerate(new_rows, start=1)]
    for change in changes:
        _check_status(change.after)
    return changes


def _updated(conn: Connection, dataset_id: int, updates: dict[int, dict[str, Any]]) -> list[_Change]:
    current = {row.id: row for row in _rows(conn, dataset_id)} if updates else {}
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
    return changes


def _deleted(conn: Connection, dataset_id: int, row_ids: Iterable[int]) -> list[_Change]:
    wanted = list(dict.fromkeys(row_ids))
    current = {row.id: row for row in _rows(conn, dataset_id)} if wanted else {}
    return [_Change(i, _record(current[i])) for i in wanted if i in current]


def _check_status(record: dict[str, Any] | None) -> None:
    if record is not None and record["status"] not in STATUSES:
        raise DatasetError(f"Status '{record['status']}' is not one of {', '.join(STATUSES)}.")


def _apply(
    conn: Connection, dataset_id: int, summary: str, changes: list[_Change], undoes: int | None = None
) -> Version:
    """Write changes to the examples and log them as a new version, in the caller's transaction.

    Each kind of change goes to the database as one batch (50,000 imported rows are one statement's many
    parameter sets, not 50,000 round trips); every example appears in one change at most.
    """
    stamp = now()
    new_version = insert(version_table).values(
        dataset_id=dataset_id, created_at=stamp, summary=summary, n_examples=0, undoes=undoes
    )
    version_id = insert_id(conn, new_version)
    e = examples.c
    added = [c for c in changes if c.before is None and c.after is not None]
    fresh = [c for c in added if c.example_id is None]
    restored = [c for c in added if c.example_id is not None]  # undo puts a deleted row back under its id
    if fresh:
        made = conn.execute(
            insert(examples).returning(e.id, sort_by_parameter_order=True),
            [{"dataset_id": dataset_id, **_columns(c.after)} for c in fresh],
        )
        for change, example_id in zip(fresh, made.scalars().all(), strict=True):
            change.example_id = example_id
    if restored:
        conn.execute(
            insert(examples), [{"id": c.example_id, "dataset_id": dataset_id, **_columns(c.after)} for c in restored]
        )
    if gone := [{"gone": c.example_id} for c in changes if c.after is None]:
        conn.execute(delete(examples).where(e.id == bindparam("gone"), e.dataset_id == dataset_id), gone)
    if edited := [c for c in changes if c.before is not None and c.after is not None]:
        columns = ("position", "body", "status", "tags", "note")
        statement = (
            update(examples)
            .where(e.id == bindparam("row"), e.dataset_id == dataset_id)
            .values({name: bindparam(f"new_{name}") for name in columns})
        )
        rows = [{"row": c.example_id, **{f"new_{k}": v for k, v in _columns(c.after).items()}} for c in edited]
        conn.execute(statement, rows)
    log = [
        {"version_id": version_id, "example_id": c.example_id, "seq": seq, "before": _dump(c.before),
         "after": _dump(c.after)}
        for seq, c in enumerate(changes)
    ]  # fmt: skip
    if log:
        conn.execute(insert(change_log), log)
    n_examples = conn.execute(select(func.count()).select_from(examples).where(e.dataset_id == dataset_id)).scalar_one()
    conn.execute(update(version_table).where(version_table.c.id == version_id).values(n_examples=n_examples))
    conn.execute(update(datasets).where(datasets.c.id == dataset_id).values(updated_at=stamp))
    return Version(version_id, dataset_id, stamp, summary, n_examples, undoes, _number(conn, dataset_id, version_id))


def _columns(record: dict[str, Any] | None) -> dict[str, Any]:
    """A change's record as the examples table's columns."""
    assert record is not None
    return {
        "position": record["position"],
        "body": json.dumps(record["example"], ensure_ascii=False),
        "status": record["status"],
        "tags": record["tags"],
        "note": record["note"],
    }


def version_number(dataset_id: int, version_id: int) -> int:
    """The number History shows for a version (1 for a dataset's first); ids count across all datasets."""
    with connect() as conn:
        return _number(conn, dataset_id, version_id)


def _number(conn: Connection, dataset_id: int, version_id: int) -> int:
    """A version's number within its dataset."""
    v = version_table.c
    return int(
        conn.execute(
            select(func.count()).select_from(version_table).where(v.dataset_id == dataset_id, v.id <= version_id)
        ).scalar_one()
    )


def _dump(record: dict[str, Any] | None) -> str | None:
    return None if record is None else json.dumps(record, ensure_ascii=False)


def _load(text: str | None) -> dict[str, Any] | None:
    return None if text is None else json.loads(text)


# ---- versions, restore and undo ----------------------------------------------------------


def _versions_query(dataset_id: int) -> Any:
    v = version_table.c
    query = select(v.id, v.dataset_id, v.created_at, v.summary, v.n_examples, v.undoes)
    return query.where(v.dataset_id == dataset_id).order_by(v.id.desc())


def versions(dataset_id: int) -> list[Version]:
    """Every version of a dataset, newest first."""
    with connect() as conn:
        _get_dataset(conn, dataset_id)
        found = conn.execute(_versions_query(dataset_id)).fetchall()
    return [Version(r[0], r[1], r[2], r[3], r[4], r[5], len(found) - i) for i, r in enumerate(found)]


def _state_at(conn: Connection, dataset_id: int, version_id: int) -> dict[int, dict[str, Any]]:
    """The rows as they were right after ``version_id``: today's rows with later changes reversed."""
    state = {row.id: _record(row) for row in _rows(conn, dataset_id)}
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
        _get_dataset(conn, dataset_id, lock=True)
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
        _get_dataset(conn, dataset_id, lock=True)
        target = _undoable(conn, dataset_id)
        if target is None:
            return None
        c = change_log.c
        logged = conn.execute(
            select(c.example_id, c.before, c.after).where(c.version_id == target.id).order_by(c.seq.desc())
        ).fetchall()
        changes = [_Change(example_id, _load(after), _load(before)) for example_id, before, after in logged]
        return _apply(conn, dataset_id, f"Undone: {target.summary}", changes, undoes=target.id)
