"""The examples table: rows to a DataFrame, search and filters, and table edits back to rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from lib.curate.dataset import NewRow, Row
from lib.openai_format.examples import (
    is_preference,
    kind,
    rejected_text,
    single_turn,
    table_fields,
    with_rejected,
    with_table_fields,
)

COLUMNS = ["row", "kind", "system", "user", "assistant", "status", "tags", "note"]
EDITABLE = ["system", "user", "assistant", "not_preferred", "status", "tags", "note"]
NOT_PREFERRED = "not_preferred"  # a column shown when the page holds preference examples
SIGNAL_COLUMNS = ["loss", "variability", "signal"]


class Signal(Protocol):
    """What training said about one example (lib.train.data_map.ExampleSignal)."""

    @property
    def mean_loss(self) -> float: ...
    @property
    def variability(self) -> float: ...
    @property
    def group(self) -> str: ...


def to_frame(numbered: Sequence[tuple[int, Row]], signals: Mapping[int, Signal] | None = None) -> pd.DataFrame:
    """One line per example: its row number, kind, table fields and curation fields; with ``signals`` (by row
    id), the training signal of the last job too (empty for rows it did not train on)."""
    records = []
    pairs = any(is_preference(row.example) for _, row in numbered)
    for number, row in numbered:
        system, user, assistant = table_fields(row.example)
        record: list[Any] = [number, kind(row.example), system, user, assistant, row.status, row.tags, row.note]
        if pairs:
            record.insert(5, rejected_text(row.example))
        if signals is not None:
            found = signals.get(row.id)
            record += [found.mean_loss, found.variability, found.group] if found else [None, None, ""]
        records.append(record)
    columns = COLUMNS[:5] + ([NOT_PREFERRED] if pairs else []) + COLUMNS[5:]
    return pd.DataFrame(records, columns=columns + (SIGNAL_COLUMNS if signals is not None else []))


def tag_list(tags: str) -> list[str]:
    return [t.strip() for t in tags.split(",") if t.strip()]


def all_tags(rows: Iterable[Row]) -> list[str]:
    return sorted({tag for row in rows for tag in tag_list(row.tags)}, key=str.lower)


def matches(row: Row, text: str) -> bool:
    """Case-insensitive search over every message and the tags and note."""
    needle = text.strip().lower()
    if not needle:
        return True
    haystack = [row.tags, row.note, *table_fields(row.example)]
    if kind(row.example) != "single-turn":
        haystack.append(str(row.example))
    return any(needle in part.lower() for part in haystack)


def filter_rows(
    rows: Sequence[Row], text: str = "", statuses: Sequence[str] = (), tags: Sequence[str] = ()
) -> list[tuple[int, Row]]:
    """(row number, row) for the rows that pass every filter; numbers stay those of the whole dataset."""
    wanted_tags = set(tags)
    return [
        (number, row)
        for number, row in enumerate(rows, start=1)
        if (not statuses or row.status in statuses)
        and (not wanted_tags or wanted_tags & set(tag_list(row.tags)))
        and matches(row, text)
    ]


@dataclass
class TableEdits:
    """What a user did in the table, ready for the store."""

    updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    added: list[NewRow] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.updates or self.added or self.deleted)


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def edits_from_editor(shown: Sequence[Row], state: dict[str, Any] | None) -> TableEdits:
    """Turn ``st.data_editor``'s state (positions into ``shown``) into store edits."""
    edits = TableEdits()
    if not state:
        return edits
    for position, changed in state.get("edited_rows", {}).items():
        row = shown[int(position)]
        fields: dict[str, Any] = {k: _text(v) for k, v in changed.items() if k in EDITABLE}
        message_fields = {k: fields.pop(k) for k in ("system", "user", "assistant") if k in fields}
        rejected = fields.pop(NOT_PREFERRED, None)
        if message_fields:
            fields["example"] = with_table_fields(row.example, **message_fields)
        if rejected is not None and is_preference(row.example):
            fields["example"] = with_rejected(fields.get("example", row.example), rejected)
        if "status" in fields and not fields["status"]:
            fields["status"] = "draft"
        edits.updates[row.id] = fields
    for added in state.get("added_rows", []):
        cells = {k: _text(added.get(k)) for k in EDITABLE}
        if not any(cells[k] for k in ("system", "user", "assistant")):
            continue  # an empty new line: nothing to keep yet
        example = single_turn(cells["system"], cells["user"], cells["assistant"])
        edits.added.append(NewRow(example, cells["status"] or "draft", cells["tags"], cells["note"]))
    edits.deleted = [shown[int(position)].id for position in state.get("deleted_rows", [])]
    return edits


def page_count(n_rows: int, page_size: int) -> int:
    return max(1, -(-n_rows // page_size))
