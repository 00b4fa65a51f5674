"""Curate's entry for the screens: datasets, their rows and versions, and imports into them.

Pages and lib/ui call this module, never lib/db: each function is one call into the store (one transaction, one
version where it changes rows). File formats and exports are in import_export.py and formats.py.
"""

from __future__ import annotations

from lib.curate.dataset import Row
from lib.curate.import_export import import_new, import_parsed, load_sample
from lib.db.dataset_store import (
    add_rows,
    create_dataset,
    delete_dataset,
    delete_rows,
    duplicate_dataset,
    edit_rows,
    find_dataset,
    get_dataset,
    list_datasets,
    normalize_tags,
    rename_dataset,
    rows,
    update_rows,
)
from lib.db.dataset_versions import restore, rows_at, undo, undoable, version_number, versions

__all__ = [
    "add_rows",
    "create_dataset",
    "delete_dataset",
    "delete_rows",
    "duplicate_dataset",
    "edit_rows",
    "find_dataset",
    "get_dataset",
    "import_new",
    "import_parsed",
    "list_datasets",
    "load_sample",
    "normalize_tags",
    "rename_dataset",
    "restore",
    "rows",
    "rows_at",
    "rows_of_version",
    "undo",
    "undoable",
    "update_rows",
    "version_number",
    "versions",
]


def rows_of_version(dataset_id: int, version_id: int) -> list[Row]:
    """A dataset's rows at a version: read directly when it is the latest, else rebuilt from the change log."""
    if version_id == get_dataset(dataset_id).version_id:
        return rows(dataset_id)
    return rows_at(dataset_id, version_id)
