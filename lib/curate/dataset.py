"""The dataset domain: a dataset, its versions and its rows (an example with its curation fields).

Plain, immutable values: the store (lib/db/dataset_store.py, dataset_versions.py) reads and writes them, pages and steps
pass them on (pages through datasets.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.openai_format.examples import Example

STATUSES = ("draft", "approved", "rejected")


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
