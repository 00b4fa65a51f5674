"""Datasets and their examples, and the change log that makes every edit a version.

Every change is written at once, in one transaction, together with a change log:
each version records, per example, the row before and after. From that log any
earlier version can be rebuilt, restored, and the latest changes undone (dataset_versions.py).
The functions that take a connection work in the caller's transaction; dataset_versions.py builds on them.
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
class Change:
    """One example's row before and after a change (None: it did not exist, or no longer does)."""

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
        return dataset_in(conn, dataset_id)


def dataset_in(conn: Connection, dataset_id: int, lock: bool = False) -> Dataset:
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
                changes = [Change(None, None, record_of(row, i)) for i, row in enumerate(new_rows, start=1)]
                for change in changes:
                    _check_status(change.after)
                apply_changes(conn, created.id, summary or f"Added {plural(len(changes), 'example')}", changes)
            return dataset_in(conn, created.id)
    except IntegrityError:  # another curator took the name a moment ago
        raise DatasetError(_taken(" ".join(name.split()))) from None


def _create(conn: Connection, name: str, summary: str) -> Dataset:
    stamp = now()
    values = {"name": _clean_name(conn, name), "created_at": stamp, "updated_at": stamp}
    dataset_id = insert_id(conn, insert(datasets).values(**values))
    apply_changes(conn, dataset_id, summary, [])
    return dataset_in(conn, dataset_id)


def rename_dataset(dataset_id: int, name: str) -> Dataset:
    try:
        with transaction() as conn:
            dataset_in(conn, dataset_id, lock=True)
            clean = _clean_name(conn, name, exclude=dataset_id)
            conn.execute(update(datasets).where(datasets.c.id == dataset_id).values(name=clean, updated_at=now()))
            return dataset_in(conn, dataset_id)
    except IntegrityError:
        raise DatasetError(_taken(" ".join(name.split()))) from None


def duplicate_dataset(dataset_id: int, name: str) -> Dataset:
    try:
        with transaction() as conn:
            source = dataset_in(conn, dataset_id)
            copy = _create(conn, name, f"Duplicated from '{source.name}'")
            records = [record_of(row) for row in rows_in(conn, dataset_id)]
            apply_changes(conn, copy.id, f"Copied {len(records)} examples", [Change(None, None, r) for r in records])
            return dataset_in(conn, copy.id)
    except IntegrityError:
        raise DatasetError(_taken(" ".join(name.split()))) from None


def delete_dataset(dataset_id: int) -> None:
    with transaction() as conn:
        dataset_in(conn, dataset_id, lock=True)
        conn.execute(delete(datasets).where(datasets.c.id == dataset_id))


# ---- examples -------------------------------------------------------------------------


def record_of(row: Row | NewRow, position: int | None = None) -> dict[str, Any]:
    """A row as the change log records it."""
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


def rows_in(conn: Connection, dataset_id: int) -> list[Row]:
    """The dataset's rows now, in order."""
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
        dataset_in(conn, dataset_id)
        return rows_in(conn, dataset_id)


def add_rows(dataset_id: int, new_rows: Iterable[NewRow], summary: str | None = None) -> Version:
    with transaction() as conn:
        dataset_in(conn, dataset_id, lock=True)
        changes = _added(conn, dataset_id, new_rows)
        return apply_changes(conn, dataset_id, summary or f"Added {plural(len(changes), 'example')}", changes)


def update_rows(dataset_id: int, updates: dict[int, dict[str, Any]], summary: str | None = None) -> Version:
    """Change fields (example, status, tags, note) of rows given by id."""
    with transaction() as conn:
        dataset_in(conn, dataset_id, lock=True)
        changes = _updated(conn, dataset_id, updates)
        return apply_changes(conn, dataset_id, summary or f"Edited {plural(len(changes), 'example')}", changes)


def delete_rows(dataset_id: int, row_ids: Iterable[int], summary: str | None = None) -> Version:
    with transaction() as conn:
        dataset_in(conn, dataset_id, lock=True)
        changes = _deleted(conn, dataset_id, row_ids)
        return apply_changes(conn, dataset_id, summary or f"Deleted {plural(len(changes), 'example')}", changes)


def edit_rows(
    dataset_id: int, updates: dict[int, dict[str, Any]], added: Sequence[NewRow], deleted: Sequence[int]
) -> Version:
    """One table edit (cells changed, rows added and deleted at once) as one version: one undo step."""
    with transaction() as conn:
        dataset_in(conn, dataset_id, lock=True)
        kept = {row_id: fields for row_id, fields in updates.items() if row_id not in set(deleted)}
        edited, removed = _updated(conn, dataset_id, kept), _deleted(conn, dataset_id, deleted)
        new = _added(conn, dataset_id, added)
        said = [f"{verb} {plural(len(done), 'example')}" for verb, done in
                (("edited", edited), ("added", new), ("deleted", removed)) if done]  # fmt: skip
        summary = ", ".join(said).capitalize() if said else "Edited nothing"
        return apply_changes(conn, dataset_id, summary, [*edited, *removed, *new])


def _added(conn: Connection, dataset_id: int, new_rows: Iterable[NewRow]) -> list[Change]:
    last = select(func.coalesce(func.max(examples.c.position), 0)).where(examples.c.dataset_id == dataset_id)
    start = int(conn.execute(last).scalar_one())
    changes = [Change(None, None, record_of(row, start + i)) for i, row in enumerate(new_rows, start=1)]
    for change in changes:
        _check_status(change.after)
    return changes


def _updated(conn: Connection, dataset_id: int, updates: dict[int, dict[str, Any]]) -> list[Change]:
    current = {row.id: row for row in rows_in(conn, dataset_id)} if updates else {}
    changes = []
    for row_id, fields in updates.items():
        if row_id not in current:
            raise DatasetError(f"Example {row_id} is no longer in this dataset: reload the page.")
        before = record_of(current[row_id])
        after = {**before, **fields}
        after["tags"] = normalize_tags(after["tags"])
        _check_status(after)
        if after != before:
            changes.append(Change(row_id, before, after))
    return changes


def _deleted(conn: Connection, dataset_id: int, row_ids: Iterable[int]) -> list[Change]:
    wanted = list(dict.fromkeys(row_ids))
    current = {row.id: row for row in rows_in(conn, dataset_id)} if wanted else {}
    return [Change(i, record_of(current[i])) for i in wanted if i in current]


def _check_status(record: dict[str, Any] | None) -> None:
    if record is not None and record["status"] not in STATUSES:
        raise DatasetError(f"Status '{record['status']}' is not one of {', '.join(STATUSES)}.")


def apply_changes(
    conn: Connection, dataset_id: int, summary: str, changes: list[Change], undoes: int | None = None
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
    return Version(version_id, dataset_id, stamp, summary, n_examples, undoes, number_in(conn, dataset_id, version_id))


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


def number_in(conn: Connection, dataset_id: int, version_id: int) -> int:
    """A version's number within its dataset."""
    v = version_table.c
    return int(
        conn.execute(
            select(func.count()).select_from(version_table).where(v.dataset_id == dataset_id, v.id <= version_id)
        ).scalar_one()
    )


def _dump(record: dict[str, Any] | None) -> str | None:
    return None if record is None else json.dumps(record, ensure_ascii=False)
