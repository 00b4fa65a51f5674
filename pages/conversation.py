"""Conversation: edit one example turn by turn (multi-turn chats, weights), or as raw JSON."""

import json

import streamlit as st

from lib.curate import datasets
from lib.curate.conversation import add_turn, messages_of, move, remove, set_message, with_messages
from lib.curate.dataset import NewRow
from lib.openai_format.examples import ROLES, is_preference, single_turn, table_fields
from lib.ui.plain import plain
from lib.ui.preference_view import edit_preference
from lib.ui.widgets import cached_rows, flash, require_dataset, show_flash, undo_button

dataset = require_dataset()
st.title(f"Conversation · {plain(dataset.name)}")
show_flash()
rows = cached_rows(dataset.id, dataset.version_id)

if st.button("New conversation", icon=":material/add_comment:"):
    datasets.add_rows(dataset.id, [NewRow(single_turn("", "", ""))], "Added a conversation")
    st.session_state["conversation_row"] = len(rows) + 1
    st.rerun()
if not rows:
    st.info("This dataset has no examples yet.")
    st.stop()

if st.session_state.get("conversation_row", 1) > len(rows):
    st.session_state["conversation_row"] = len(rows)
number = st.number_input(f"Row (1 to {len(rows)})", 1, len(rows), key="conversation_row")
row = rows[number - 1]
st.caption(" · ".join(plain(part[:80]) for part in table_fields(row.example)[1:] if part) or "An empty example")


def save(messages: list, summary: str) -> None:
    datasets.update_rows(dataset.id, {row.id: {"example": with_messages(row.example, messages)}}, summary)


def restructure(messages: list, summary: str) -> None:
    save(messages, summary)
    st.rerun()


if is_preference(row.example):
    edit_preference(dataset, row, number)
    undo_button(dataset, key="conversation_undo")
else:
    messages = messages_of(row.example)
    # Keys name the version shown: after an undo or a JSON save the boxes show the new text, never write back the old.
    prefix = f"conversation_{row.id}_{dataset.version_id}"
    edited = list(messages)
    for index, message in enumerate(messages):
        role = message.get("role") if message.get("role") in ROLES else "user"
        with st.chat_message(
            "assistant" if role == "assistant" else "user", avatar=":material/settings:" if role == "system" else None
        ):
            top = st.columns([2, 2, 1, 1, 1])
            new_role = top[0].selectbox("Role", ROLES, ROLES.index(role), key=f"{prefix}_{index}_role")
            trained = None
            if new_role == "assistant":
                trained = top[1].checkbox(
                    "Train on this turn", message.get("weight", 1) != 0, key=f"{prefix}_{index}_w"
                )
            if top[2].button("↑", key=f"{prefix}_{index}_up", disabled=index == 0, help="Move up"):
                restructure(move(messages, index, -1), f"Moved a turn in row {number}")
            if top[3].button("↓", key=f"{prefix}_{index}_down", disabled=index == len(messages) - 1, help="Move down"):
                restructure(move(messages, index, 1), f"Moved a turn in row {number}")
            if top[4].button("✕", key=f"{prefix}_{index}_remove", help="Remove this turn"):
                restructure(remove(messages, index), f"Removed a turn from row {number}")
            content = message.get("content")
            text = st.text_area(
                "Message", content if isinstance(content, str) else "", key=f"{prefix}_{index}_text",
                label_visibility="collapsed", height="content",
            )  # fmt: skip
            keep_weight = trained if "weight" in message or trained is False else None
            edited = set_message(edited, index, new_role, text, keep_weight)
    if edited != messages:
        save(edited, f"Edited the conversation in row {number}")
        st.toast("Saved.")
    left, right = st.columns([1, 4])
    if left.button("Add turn", icon=":material/add:"):
        restructure(add_turn(edited), f"Added a turn to row {number}")
    with right:
        undo_button(dataset, key="conversation_undo")

with st.expander("Edit as JSON"):
    raw = st.text_area("Example", json.dumps(row.example, indent=2, ensure_ascii=False), height=300,
                       key=f"conversation_json_{row.id}_{dataset.version_id}")  # fmt: skip
    if st.button("Save JSON"):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            st.error(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}). Nothing was changed.")
        else:
            if isinstance(value, dict):
                datasets.update_rows(dataset.id, {row.id: {"example": value}}, f"Edited row {number} as JSON")
                flash("Saved.")
                st.rerun()
            st.error("An example must be a JSON object. Nothing was changed.")
