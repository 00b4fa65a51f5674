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
    passage_template: str = ""  # how its CSV rows become passages ("" : every column as "name: value")


@dataclass(frozen=True)
class TrainingPassages:
    """What a model was trained with: passages of one knowledge source version, k per example, the share of
    examples given distractors, and the template its CSV rows were written with (for files read again later)."""

    source_id: int
    version_id: int
    source_name: str
    k: int
    distractor_share: float
    template: str = ""


@dataclass(frozen=True)
class SourceVersion:
    id: int
    created_at: str
    summary: str
    n_passages: int
