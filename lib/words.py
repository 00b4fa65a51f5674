"""Counts in words, so no screen says "1 errors" or "1 items"."""

from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """'1 error', '2 errors', '0 errors'; ``many`` for irregular plurals ('1 reply', '2 replies')."""
    return f"{n:,} {noun if n == 1 else many or noun + 's'}"
