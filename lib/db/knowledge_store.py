"""Knowledge sources for retrieval: named collections of passages, versioned like datasets.

A version is immutable: adding or removing a file makes a new version holding every passage
it keeps, so an evaluation run can name the exact passages its answers were given.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from lib.db.connection import connect, now, transaction
from lib.errors import KnowledgeError


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


def _sources(conn: sqlite3.Connection, where: str = "", arguments: tuple[object, ...] = ()) -> list[Source]:
    found = conn.execute(
        "SELECT s.id, s.name, s.updated_at, v.id, "
        "(SELECT COUNT(*) FROM knowledge_passages p WHERE p.version_id = v.id) "
        "FROM knowledge_sources s "
        "JOIN knowledge_versions v ON v.id = (SELECT MAX(id) FROM knowledge_versions WHERE source_id = s.id) "
        + where
        + " ORDER BY s.name",
        arguments,
    )
    return [Source(*row) for row in found]


def sources() -> list[Source]:
    with connect() as conn:
        return _sources(conn)


def source(source_id: int) -> Source:
    with connect() as conn:
        found = _sources(conn, "WHERE s.id = ?", (source_id,))
    if not found:
        raise KnowledgeError(f"Knowledge source {source_id} no longer exists.")
    return found[0]


def _new_version(conn: sqlite3.Connection, source_id: int, summary: str, passages: Sequence[Passage]) -> int:
    stamp = now()
    version_id = int(
        conn.execute(
            "INSERT INTO knowledge_versions (source_id, created_at, summary) VALUES (?, ?, ?)",
            (source_id, stamp, summary),
        ).lastrowid
        or 0
    )
    conn.executemany(
        "INSERT INTO knowledge_passages VALUES (?, ?, ?, ?, ?)",
        [(version_id, i, p.file, p.origin, p.text) for i, p in enumerate(passages)],
    )
    conn.execute("UPDATE knowledge_sources SET updated_at = ? WHERE id = ?", (stamp, source_id))
    return version_id


def create_source(name: str) -> Source:
    name = name.strip()
    if not name:
        raise KnowledgeError("Give the knowledge source a name.")
    try:
        with transaction() as conn:
            stamp = now()
            source_id = int(
                conn.execute(
                    "INSERT INTO knowledge_sources (name, created_at, updated_at) VALUES (?, ?, ?)",
                    (name, stamp, stamp),
                ).lastrowid
                or 0
            )
            _new_version(conn, source_id, "Created", [])
    except sqlite3.IntegrityError:
        raise KnowledgeError(f"A knowledge source named “{name}” already exists.") from None
    return source(source_id)


def passages_at(version_id: int) -> list[Passage]:
    with connect() as conn:
        return _passages(conn, version_id)


def add_file(source_id: int, file: str, passages: Sequence[Passage]) -> Source:
    """A new version with the file's passages; a file of the same name is replaced."""
    if not passages:
        raise KnowledgeError(f"{file} has no passage to add.")
    with transaction() as conn:
        kept, had = _passages_without(conn, source_id, file)
        verb = "Replaced" if len(kept) < had else "Added"
        _new_version(conn, source_id, f"{verb} {file} ({len(passages)} passages)", kept + list(passages))
    return source(source_id)


def remove_file(source_id: int, file: str) -> Source:
    with transaction() as conn:
        kept, _ = _passages_without(conn, source_id, file)
        _new_version(conn, source_id, f"Removed {file}", kept)
    return source(source_id)


def _passages(conn: sqlite3.Connection, version_id: int) -> list[Passage]:
    found = conn.execute(
        "SELECT file, origin, text FROM knowledge_passages WHERE version_id = ? ORDER BY position", (version_id,)
    )
    return [Passage(*row) for row in found]


def _passages_without(conn: sqlite3.Connection, source_id: int, file: str) -> tuple[list[Passage], int]:
    """The latest version's passages but those of ``file``, and how many it had in all."""
    latest = _sources(conn, "WHERE s.id = ?", (source_id,))
    if not latest:
        raise KnowledgeError(f"Knowledge source {source_id} no longer exists.")
    found = _passages(conn, latest[0].version_id)
    return [p for p in found if p.file != file], len(found)


def versions(source_id: int) -> list[SourceVersion]:
    """Newest first."""
    with connect() as conn:
        found = conn.execute(
            "SELECT v.id, v.created_at, v.summary, "
            "(SELECT COUNT(*) FROM knowledge_passages p WHERE p.version_id = v.id) "
            "FROM knowledge_versions v WHERE v.source_id = ? ORDER BY v.id DESC",
            (source_id,),
        )
        return [SourceVersion(*row) for row in found]


def delete_source(source_id: int) -> None:
    with transaction() as conn:
        conn.execute("DELETE FROM knowledge_sources WHERE id = ?", (source_id,))
