import sqlite3
import threading
from pathlib import Path

import pytest

from lib import store
from lib.errors import DatasetError
from lib.examples import single_turn
from lib.store import NewRow


def make(name: str = "Elle", n: int = 3) -> int:
    dataset = store.create_dataset(name)
    store.add_rows(dataset.id, [NewRow(single_turn("s", f"q{i}", f"a{i}")) for i in range(n)])
    return dataset.id


def users(dataset_id: int) -> list[str]:
    return [row.example["messages"][1]["content"] for row in store.rows(dataset_id)]


def test_database_lives_in_the_data_dir_with_wal_and_migrations(data_dir: Path) -> None:
    make()
    conn = sqlite3.connect(data_dir / "studio.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(store.MIGRATIONS)


def test_edits_are_saved_and_survive_a_new_connection() -> None:
    dataset_id = make()
    first = store.rows(dataset_id)[0]
    store.update_rows(dataset_id, {first.id: {"status": "approved", "tags": " b, a ,b", "note": "ok"}})
    again = store.rows(dataset_id)[0]
    assert (again.status, again.tags, again.note) == ("approved", "b, a", "ok")


def test_dataset_names_are_unique_and_rename_duplicate_delete_work() -> None:
    dataset_id = make("Elle")
    with pytest.raises(DatasetError, match="already exists"):
        store.create_dataset(" elle ")
    with pytest.raises(DatasetError, match="needs a name"):
        store.create_dataset("  ")
    assert store.rename_dataset(dataset_id, "Elle v1").name == "Elle v1"
    copy = store.duplicate_dataset(dataset_id, "Elle v2")
    assert users(copy.id) == users(dataset_id) and copy.n_examples == 3
    store.delete_dataset(dataset_id)
    assert [d.name for d in store.list_datasets()] == ["Elle v2"]
    with pytest.raises(DatasetError, match="no dataset"):
        store.rows(dataset_id)


def test_bad_status_is_refused_and_nothing_is_written() -> None:
    dataset_id = make()
    row = store.rows(dataset_id)[0]
    before = store.versions(dataset_id)
    with pytest.raises(DatasetError, match="not one of"):
        store.update_rows(dataset_id, {row.id: {"status": "maybe"}})
    assert store.versions(dataset_id) == before and store.rows(dataset_id)[0].status == "draft"


def test_every_change_is_a_version_and_old_versions_can_be_viewed_and_restored() -> None:
    dataset_id = make()
    rows = store.rows(dataset_id)
    after_add = store.versions(dataset_id)[0].id
    store.update_rows(dataset_id, {rows[0].id: {"example": single_turn("s", "changed", "a0")}})
    store.delete_rows(dataset_id, [rows[1].id])
    assert users(dataset_id) == ["changed", "q2"]
    assert [r.example["messages"][1]["content"] for r in store.rows_at(dataset_id, after_add)] == ["q0", "q1", "q2"]
    store.restore(dataset_id, after_add)
    assert users(dataset_id) == ["q0", "q1", "q2"]
    assert [row.id for row in store.rows(dataset_id)] == [row.id for row in rows]
    assert store.versions(dataset_id)[0].summary == f"Restored version {after_add}"


def test_undo_goes_back_step_by_step_and_brings_deleted_rows_back() -> None:
    dataset_id = make()
    rows = store.rows(dataset_id)
    store.update_rows(dataset_id, {rows[0].id: {"note": "first"}})
    store.delete_rows(dataset_id, [rows[0].id, rows[2].id])
    assert users(dataset_id) == ["q1"]
    assert store.undo(dataset_id) is not None
    assert users(dataset_id) == ["q0", "q1", "q2"] and store.rows(dataset_id)[0].note == "first"
    store.undo(dataset_id)
    assert store.rows(dataset_id)[0].note == ""
    store.undo(dataset_id)
    assert users(dataset_id) == []
    assert store.undo(dataset_id) is None and store.undoable(dataset_id) is None


def test_undo_after_undo_and_new_edit_reverts_the_new_edit() -> None:
    dataset_id = make()
    row = store.rows(dataset_id)[0]
    store.update_rows(dataset_id, {row.id: {"note": "a"}})
    store.undo(dataset_id)
    store.update_rows(dataset_id, {row.id: {"note": "b"}})
    undone = store.undo(dataset_id)
    assert undone is not None and store.rows(dataset_id)[0].note == ""
    store.undo(dataset_id)  # now the rows added by make()
    assert store.rows(dataset_id) == []


def test_concurrent_writers_lose_nothing() -> None:
    dataset_id = make(n=0)
    errors: list[Exception] = []

    def writer(k: int) -> None:
        try:
            for i in range(20):
                store.add_rows(dataset_id, [NewRow(single_turn("", f"{k}-{i}", "a"))])
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(store.rows(dataset_id)) == 80
