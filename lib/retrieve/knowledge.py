"""Retrieval's entry for the screens: knowledge sources, their versions and passages.

Pages and lib/ui call this module, never lib/db. Reading files into passages is passages.py, searching them
search.py.
"""

from __future__ import annotations

from lib.db.knowledge_store import (
    create_source,
    delete_source,
    passages_at,
    remove_file,
    source,
    sources,
    versions,
)

__all__ = [
    "create_source", "delete_source", "passages_at", "remove_file", "source", "sources",
    "versions",
]  # fmt: skip
