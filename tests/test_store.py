import sqlite3
from pathlib import Path

import pytest

from lib.curate.dataset import NewRow
from lib.db import connection, dataset_store, dataset_versions
from lib.errors import DatasetError
from lib.openai_format.examples import single_turn
from tests.threads import at_once


def make(name: str = "Elle", n: int = 3) -> int:
    dataset = dataset_store.create_dataset(name)
    dataset_store.add_rows(dataset.id, [NewRow(single_turn("s", f"q{i}", f"a{i}")) for i in range(n)])
    return dataset.id


def users(dataset_id: int) -> list[str]:
    return [row.example["messages"][1]["content"] for row in dataset_store.rows(dataset_id)]


def test_database_lives_in_the_data_dir_with_wal_and_migrations(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(connection.URL_VARIABLE, raising=False)  # SQLite's own file, whichever store the run uses
    make()
    conn = sqlite3.connect(data_dir / "studio.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == connection.head_revision() == "0011"


def test_edits_are_saved_and_survive_a_new_connection(store: str) -> None:
    dataset_id = make()
    first = dataset_store.rows(dataset_id)[0]
    dataset_store.update_rows(dataset_id, {first.id: {"status": "approved", "tags": " b, a ,b", "note": "ok"}})
    again = dataset_store.rows(dataset_id)[0]
    assert (again.status, again.tags, again.note) == ("approved", "b, a", "ok")


def test_dataset_names_are_unique_and_rename_duplicate_delete_work(store: str) -> None:
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


def test_bad_status_is_refused_and_nothing_is_written(store: str) -> None:
    dataset_id = make()
    row = dataset_store.rows(dataset_id)[0]
    before = dataset_versions.versions(dataset_id)
    with pytest.raises(DatasetError, match="not one of"):
        dataset_store.update_rows(dataset_id, {row.id: {"status": "maybe"}})
    assert dataset_versions.versions(dataset_id) == before and dataset_store.rows(dataset_id)[0].status == "draft"


def test_every_change_is_a_version_and_old_versions_can_be_viewed_and_restored(store: str) -> None:
    dataset_id = make()
    rows = dataset_store.rows(dataset_id)
    after_add = dataset_versions.versions(dataset_id)[0].id
    dataset_store.update_rows(dataset_id, {rows[0].id: {"example": single_turn("s", "changed", "a0")}})
    dataset_store.delete_rows(dataset_id, [rows[1].id])
    assert users(dataset_id) == ["changed", "q2"]
    assert [r.example["messages"][1]["content"] for r in dataset_versions.rows_at(dataset_id, after_add)] == [
        "q0",
        "q1",
        "q2",
    ]
    dataset_versions.restore(dataset_id, after_add)
    assert users(dataset_id) == ["q0", "q1", "q2"]
    assert [row.id for row in dataset_store.rows(dataset_id)] == [row.id for row in rows]
    assert dataset_versions.versions(dataset_id)[0].summary == "Restored version 2"  # created, then 3 added


def test_versions_are_numbered_within_their_dataset(store: str) -> None:
    first, second = make("A"), make("B")  # their versions interleave in the shared table
    dataset_store.update_rows(first, {dataset_store.rows(first)[0].id: {"note": "x"}})
    assert [v.number for v in dataset_versions.versions(first)] == [3, 2, 1]
    assert [v.number for v in dataset_versions.versions(second)] == [2, 1]
    undone = dataset_versions.undo(first)
    assert undone is not None and undone.number == 4 and undone.summary == "Undone: Edited 1 example"


def test_undo_goes_back_step_by_step_and_brings_deleted_rows_back(store: str) -> None:
    dataset_id = make()
    rows = dataset_store.rows(dataset_id)
    dataset_store.update_rows(dataset_id, {rows[0].id: {"note": "first"}})
    dataset_store.delete_rows(dataset_id, [rows[0].id, rows[2].id])
    assert users(dataset_id) == ["q1"]
    assert dataset_versions.undo(dataset_id) is not None
    assert users(dataset_id) == ["q0", "q1", "q2"] and dataset_store.rows(dataset_id)[0].note == "first"
    dataset_versions.undo(dataset_id)
    assert dataset_store.rows(dataset_id)[0].note == ""
    dataset_versions.undo(dataset_id)
    assert users(dataset_id) == []
    assert dataset_versions.undo(dataset_id) is None and dataset_versions.undoable(dataset_id) is None


def test_undo_after_undo_and_new_edit_reverts_the_new_edit(store: str) -> None:
    dataset_id = make()
    row = dataset_store.rows(dataset_id)[0]
    dataset_store.update_rows(dataset_id, {row.id: {"note": "a"}})
    dataset_versions.undo(dataset_id)
    dataset_store.update_rows(dataset_id, {row.id: {"note": "b"}})
    undone = dataset_versions.undo(dataset_id)
    assert undone is not None and dataset_store.rows(dataset_id)[0].note == ""
    dataset_versions.undo(dataset_id)  # now the rows added by make()
    assert dataset_store.rows(dataset_id) == []


def test_concurrent_writers_lose_nothing(store: str) -> None:
    dataset_id = make(n=0)

    def writer(k: int) -> None:
        for i in range(20):
            dataset_store.add_rows(dataset_id, [NewRow(single_turn("", f"{k}-{i}", "a"))])

    assert at_once(writer, 4) == [] and len(dataset_store.rows(dataset_id)) == 80
    assert len({row.position for row in dataset_store.rows(dataset_id)}) == 80


def test_concurrent_edits_to_the_same_rows_lose_nothing_and_undo_stays_exact(store: str) -> None:
    dataset_id = make(n=5)
    original = dataset_store.rows(dataset_id)
    fields = [{"status": "approved"}, {"note": "checked"}, {"tags": "elle"}, {"status": "approved", "note": "checked"}]

    def curator(k: int) -> None:
        for row in original:
            dataset_store.update_rows(dataset_id, {row.id: fields[k]}, summary=f"curator {k}")

    assert at_once(curator, 3) == []
    assert {(r.status, r.note, r.tags) for r in dataset_store.rows(dataset_id)} == {("approved", "checked", "elle")}
    for _ in range(sum(v.summary.startswith("curator") for v in dataset_versions.versions(dataset_id))):
        dataset_versions.undo(dataset_id)
    assert dataset_store.rows(dataset_id) == original  # every concurrent edit was logged against what it replaced


def test_concurrent_reviewers_lose_no_rating(store: str) -> None:
    from lib.db import run_store
    from lib.judge.run import Rating

    contenders = [{"label": "base", "model": "m"}, {"label": "tuned", "model": "t"}]
    items = [("", [{"role": "user", "content": f"q{i}"}]) for i in range(10)]
    run = run_store.create_run("r", "local", "x", {}, contenders, items)

    def reviewer(k: int) -> None:
        for position in range(1, 11):
            rating = Rating(run.id, f"Reviewer {k}", position, "base", "tuned", "tuned", {})
            run_store.save_rating(rating)
            run_store.save_rating(rating)  # saving again replaces, never duplicates

    assert at_once(reviewer, 6) == [] and len(run_store.run_ratings(run.id)) == 60
    run_store.save_rating(Rating(run.id, "REVIEWER 0", 1, "base", "tuned", "base", {}))
    assert len(run_store.run_ratings(run.id)) == 60  # names match without regard to case, on both engines
    assert [r.winner for r in run_store.run_ratings(run.id, "reviewer 0") if r.position == 1] == ["base"]


def test_a_database_from_before_alembic_upgrades_in_place_and_loses_nothing(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lib.db import knowledge_store, price_store, provenance_store, run_store

    monkeypatch.delenv(connection.URL_VARIABLE, raising=False)  # the old studio.db is SQLite's

    data_dir.mkdir(parents=True, exist_ok=True)
    old = sqlite3.connect(data_dir / "studio.db")
    old.executescript((Path(__file__).parent / "data" / "studio-before-alembic.sql").read_text())
    old.close()

    assert [(d.name, d.n_examples) for d in dataset_store.list_datasets()] == [("Elle", 4), ("Scratch", 1)]
    elle = dataset_store.list_datasets()[0]
    assert [v.summary for v in dataset_versions.versions(elle.id)] == [
        "Deleted 1 example", "Undone: Deleted 1 example", "Deleted 1 example", "Edited 1 example",
        "Added 5 examples", "Created",
    ]  # fmt: skip
    assert users(elle.id) == [f"Tell me about element {i}" for i in (1, 2, 3, 4)]
    assert dataset_store.rows(elle.id)[0].note == "checked"
    assert dataset_versions.undo(elle.id) is not None  # the old change log still replays: the fifth comes back
    assert users(elle.id) == [f"Tell me about element {i}" for i in (1, 2, 3, 4, 5)]
    earliest = dataset_versions.versions(elle.id)[-2]
    assert [r.note for r in dataset_versions.rows_at(elle.id, earliest.id)] == [""] * 5

    run = run_store.list_runs()[0]
    assert (run.name, run.reviews_needed, run.shared_with) == ("Elle vs base", 2, ())
    assert {(r.reviewer, r.winner) for r in run_store.run_ratings(run.id)} == {("Ann", "tuned"), ("Bob", "tuned")}
    assert len(run_store.run_ratings(run.id, " ann ", repeats=True)) == 1
    assert len(run_store.run_answers(run.id)) == 4
    source = knowledge_store.sources()[0]
    assert [p.text for p in knowledge_store.passages_at(source.version_id)] == ["Iron, Fe, 26", "Gold, Au, 79"]
    assert price_store.price_overrides() == {"gpt-4.1-mini-2025-04-14": {"training": 4.5}}
    assert provenance_store.job_provenance("local")["ftjob-1"].fine_tuned_model == "ft:smollm2:elle"
    with pytest.raises(DatasetError, match="already exists"):
        dataset_store.create_dataset("ELLE")  # the old case-blind unique name still holds
    conn = sqlite3.connect(data_dir / "studio.db")
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == connection.head_revision()


def test_a_new_data_folder_and_its_database_are_the_users_only(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import stat

    monkeypatch.delenv(connection.URL_VARIABLE, raising=False)
    old = os.umask(0o022)  # the usual umask, under which files were once readable by every local user
    try:
        dataset_store.create_dataset("Private")
    finally:
        os.umask(old)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / connection.DB_NAME).stat().st_mode) == 0o600
