"""The knowledge domain: a source of passages, its versions and its passages.

Plain, immutable values: the store (lib/db/knowledge_store.py) reads and writes them, retrieval and the screens
pass them on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Passage:
    file: str  # the file it came from, as uploaded
    origin: str  # where in that file: "row 3", "line 7", "## Iron (part 2)"
    text: str


@dataclass(frozen=True)
class Source:
    id: int
    name: str
    updated_at: str
    version_id: int  # the latest version
    n_passages: int


@dataclass(frozen=True)
class SourceVersion:
    id: int
    created_at: str
    summary: str
    n_passages: int
