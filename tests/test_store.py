import sqlite3
import threading
from pathlib import Path

import pytest

from lib.curate.examples import single_turn
from lib.db import dataset_store, migrations
from lib.db.dataset_store import NewRow
from lib.errors import DatasetError


def make(name: str = "Elle", n: int = 3) -> int:
    dataset = dataset_store.create_dataset(name)
    dataset_store.add_rows(dataset.id, [NewRow(single_turn("s", f"q{i}", f"a{i}")) for i in range(n)])
    return dataset.id


def users(dataset_id: int) -> list[str]:
    return [row.example["messages"][1]["content"] for row in dataset_store.rows(dataset_id)]


def test_database_lives_in_the_data_dir_with_wal_and_migrations(data_dir: Path) -> None:
    make()
    conn = sqlite3.connect(data_dir / "studio.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations.MIGRATIONS)


def test_edits_are_saved_and_survive_a_new_connection() -> None:
    dataset_id = make()
    first = dataset_store.rows(dataset_id)[0]
    dataset_store.update_rows(dataset_id, {first.id: {"status": "approved", "tags": " b, a ,b", "note": "ok"}})
    again = dataset_store.rows(dataset_id)[0]
    assert (again.status, again.tags, again.note) == ("approved", "b, a", "ok")


def test_dataset_names_are_unique_and_rename_duplicate_delete_work() -> None:
    dataset_id = make("Elle")
    with pytest.raises(DatasetError, match="already exists"):
        dataset_store.create_dataset(" elle ")
    with pytest.raises(DatasetError, match="needs a name"):
        dataset_store.create_dataset("  ")
    assert dataset_store.rename_dataset(dataset_id, "Elle v1").name == "Elle v1"
    copy = dataset_store.duplicate_dataset(dataset_id, "Elle v2")
    assert users(copy.id) == users(dataset_id) and copy.n_examples == 3
    dataset_store.delete_dataset(dataset_id)
    assert [d.name for d in dataset_store.list_datasets()] == ["Elle v2"]
    with pytest.raises(DatasetError, match="no dataset"):
        dataset_store.rows(dataset_id)


def test_bad_status_is_refused_and_nothing_is_written() -> None:
    dataset_id = make()
    row = dataset_store.rows(dataset_id)[0]
    before = dataset_store.versions(dataset_id)
    with pytest.raises(DatasetError, match="not one of"):
        dataset_store.update_rows(dataset_id, {row.id: {"status": "maybe"}})
    assert dataset_store.versions(dataset_id) == before and dataset_store.rows(dataset_id)[0].status == "draft"


def test_every_change_is_a_version_and_old_versions_can_be_viewed_and_restored() -> None:
    dataset_id = make()
    rows = dataset_store.rows(dataset_id)
    after_add = dataset_store.versions(dataset_id)[0].id
    dataset_store.update_rows(dataset_id, {rows[0].id: {"example": single_turn("s", "changed", "a0")}})
    dataset_store.delete_rows(dataset_id, [rows[1].id])
    assert users(dataset_id) == ["changed", "q2"]
    assert [r.example["messages"][1]["content"] for r in dataset_store.rows_at(dataset_id, after_add)] == [
        "q0",
        "q1",
        "q2",
    ]
    dataset_store.restore(dataset_id, after_add)
    assert users(dataset_id) == ["q0", "q1", "q2"]
    assert [row.id for row in dataset_store.rows(dataset_id)] == [row.id for row in rows]
    assert dataset_store.versions(dataset_id)[0].summary == "Restored version 2"  # created, then 3 added


def test_versions_are_numbered_within_their_dataset() -> None:
    first, second = make("A"), make("B")  # their versions interleave in the shared table
    dataset_store.update_rows(first, {dataset_store.rows(first)[0].id: {"note": "x"}})
    assert [v.number for v in dataset_store.versions(first)] == [3, 2, 1]
    assert [v.number for v in dataset_store.versions(second)] == [2, 1]
    undone = dataset_store.undo(first)
    assert undone is not None and undone.number == 4 and undone.summary == "Undone: Edited 1 example"


def test_undo_goes_back_step_by_step_and_brings_deleted_rows_back() -> None:
    dataset_id = make()
    rows = dataset_store.rows(dataset_id)
    dataset_store.update_rows(dataset_id, {rows[0].id: {"note": "first"}})
    dataset_store.delete_rows(dataset_id, [rows[0].id, rows[2].id])
    assert users(dataset_id) == ["q1"]
    assert dataset_store.undo(dataset_id) is not None
    assert users(dataset_id) == ["q0", "q1", "q2"] and dataset_store.rows(dataset_id)[0].note == "first"
    dataset_store.undo(dataset_id)
    assert dataset_store.rows(dataset_id)[0].note == ""
    dataset_store.undo(dataset_id)
    assert users(dataset_id) == []
    assert dataset_store.undo(dataset_id) is None and dataset_store.undoable(dataset_id) is None


def test_undo_after_undo_and_new_edit_reverts_the_new_edit() -> None:
    dataset_id = make()
    row = dataset_store.rows(dataset_id)[0]
    dataset_store.update_rows(dataset_id, {row.id: {"note": "a"}})
    dataset_store.undo(dataset_id)
    dataset_store.update_rows(dataset_id, {row.id: {"note": "b"}})
    undone = dataset_store.undo(dataset_id)
    assert undone is not None and dataset_store.rows(dataset_id)[0].note == ""
    dataset_store.undo(dataset_id)  # now the rows added by make()
    assert dataset_store.rows(dataset_id) == []


def test_concurrent_writers_lose_nothing() -> None:
    dataset_id = make(n=0)
    errors: list[Exception] = []

    def writer(k: int) -> None:
        try:
            for i in range(20):
                dataset_store.add_rows(dataset_id, [NewRow(single_turn("", f"{k}-{i}", "a"))])
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(dataset_store.rows(dataset_id)) == 80
