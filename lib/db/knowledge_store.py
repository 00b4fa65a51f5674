"""Knowledge sources for retrieval: named collections of passages, versioned like datasets.

A version is immutable: adding or removing a file makes a new version holding every passage
it keeps, so an evaluation run can name the exact passages its answers were given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from lib.db.connection import connect, insert_id, now, transaction
from lib.db.schema import knowledge_passages, knowledge_sources, knowledge_versions
from lib.errors import KnowledgeError
from lib.retrieve.source import Passage, Source, SourceVersion


def _passage_count(version_id: Any) -> Any:
    return (
        select(func.count())
        .select_from(knowledge_passages)
        .where(knowledge_passages.c.version_id == version_id)
        .scalar_subquery()
    )


def _sources(conn: Connection, source_id: int | None = None) -> list[Source]:
    s, v = knowledge_sources.c, knowledge_versions.c
    newest = knowledge_versions.alias("newest")
    latest = select(func.max(newest.c.id)).where(newest.c.source_id == s.id).scalar_subquery()
    query = (
        select(s.id, s.name, s.updated_at, v.id, _passage_count(v.id), func.coalesce(s.passage_template, ""))
        .select_from(knowledge_sources.join(knowledge_versions, v.id == latest))
        .order_by(s.name)
    )
    if source_id is not None:
        query = query.where(s.id == source_id)
    return [Source(*row) for row in conn.execute(query)]


def sources() -> list[Source]:
    with connect() as conn:
        return _sources(conn)


def source(source_id: int) -> Source:
    with connect() as conn:
        found = _sources(conn, source_id)
    if not found:
        raise KnowledgeError(f"Knowledge source {source_id} no longer exists.")
    return found[0]


def _new_version(conn: Connection, source_id: int, summary: str, passages: Sequence[Passage]) -> int:
    stamp = now()
    new = insert(knowledge_versions).values(source_id=source_id, created_at=stamp, summary=summary)
    version_id = insert_id(conn, new)
    if passages:
        rows = [
            {"version_id": version_id, "position": i, "file": p.file, "origin": p.origin, "text": p.text}
            for i, p in enumerate(passages)
        ]
        conn.execute(insert(knowledge_passages), rows)
    conn.execute(update(knowledge_sources).where(knowledge_sources.c.id == source_id).values(updated_at=stamp))
    return version_id


def create_source(name: str, passage_template: str = "") -> Source:
    name = name.strip()
    if not name:
        raise KnowledgeError("Give the knowledge source a name.")
    try:
        with transaction() as conn:
            stamp = now()
            new = insert(knowledge_sources).values(
                name=name, created_at=stamp, updated_at=stamp, passage_template=passage_template.strip()
            )
            source_id = insert_id(conn, new)
            _new_version(conn, source_id, "Created", [])
    except IntegrityError:
        raise KnowledgeError(f"A knowledge source named “{name}” already exists.") from None
    return source(source_id)


def set_passage_template(source_id: int, template: str) -> Source:
    """How the CSV files added from now on become passages (those already added keep theirs)."""
    with transaction() as conn:
        s = knowledge_sources.c
        conn.execute(update(knowledge_sources).where(s.id == source_id).values(passage_template=template.strip()))
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


def _passages(conn: Connection, version_id: int) -> list[Passage]:
    p = knowledge_passages.c
    found = conn.execute(select(p.file, p.origin, p.text).where(p.version_id == version_id).order_by(p.position))
    return [Passage(*row) for row in found]


def _passages_without(conn: Connection, source_id: int, file: str) -> tuple[list[Passage], int]:
    """The latest version's passages but those of ``file``, and how many it had in all."""
    if conn.dialect.name == "postgresql":  # two uploads to one source at once: the second builds on the first
        conn.execute(select(knowledge_sources.c.id).where(knowledge_sources.c.id == source_id).with_for_update())
    latest = _sources(conn, source_id)
    if not latest:
        raise KnowledgeError(f"Knowledge source {source_id} no longer exists.")
    found = _passages(conn, latest[0].version_id)
    return [p for p in found if p.file != file], len(found)


def versions(source_id: int) -> list[SourceVersion]:
    """Newest first."""
    with connect() as conn:
        v = knowledge_versions.c
        found = conn.execute(
            select(v.id, v.created_at, v.summary, _passage_count(v.id))
            .where(v.source_id == source_id)
            .order_by(v.id.desc())
        )
        return [SourceVersion(*row) for row in found]


def delete_source(source_id: int) -> None:
    with transaction() as conn:
        conn.execute(delete(knowledge_sources).where(knowledge_sources.c.id == source_id))
