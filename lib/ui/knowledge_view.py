"""Knowledge's parts: how the rows of an uploaded CSV become passages (a sentence template, a column, or every
column as "name: value"), previewed before they are added."""

from __future__ import annotations

import streamlit as st

from lib.errors import StudioError
from lib.retrieve import passages as reading
from lib.retrieve.source import Source

SENTENCES = "\x00sentence"  # the choice "a sentence per row", beside the columns


def _suggested(columns: list[str]) -> str:
    first, *rest = columns
    return f"{{{first}}}" + "".join(f", {column} {{{column}}}" for column in rest) + "."


def csv_passage_choice(source: Source, columns: list[str], data: bytes, file_name: str) -> tuple[str, str]:
    """The text column and the sentence template chosen for a CSV (one of them empty), with the first rows as they
    will read. A small model reads sentences far better than "name: value" fields, so a template comes first."""
    columns = [c for c in columns if c]
    labels = {SENTENCES: "A sentence per row (template)", reading.ALL_COLUMNS: "All columns, as “name: value”"}
    labels |= {c: f"The column “{c}”" for c in columns}
    chosen = st.selectbox("Text of each passage", list(labels), format_func=labels.__getitem__, key="knowledge_text")
    if chosen != SENTENCES:
        return str(chosen), ""
    template = st.text_input(
        "Passage template", source.passage_template or _suggested(columns), key=f"knowledge_template_{source.id}",
        help="Column names in braces are filled in from each row, e.g. “{name} has atomic number {number} and the "
        "symbol {symbol}.” Kept with the source for its next CSV files.",
    ).strip()  # fmt: skip
    try:
        head = b"\n".join(data.split(b"\n", 4)[:4])  # the header and three rows: a big file is read once, on add
        preview = reading.read_csv(head, file_name, template=template).passages
    except StudioError as error:
        st.error(str(error), icon=":material/error:")
        return reading.ALL_COLUMNS, template
    st.caption("Reads as: " + " · ".join(f"“{p.text}”" for p in preview))
    return reading.ALL_COLUMNS, template
