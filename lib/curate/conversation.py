"""Edits of one conversation's messages: add, remove and move turns, set weights."""

from __future__ import annotations

import copy

from lib.openai_format.examples import Example, Message, conversation_list, is_preference


def messages_of(example: Example) -> list[Message]:
    """A copy of the messages the conversation editor works on (supervised examples only)."""
    messages = example.get("messages", []) if not is_preference(example) else []
    return copy.deepcopy([m for m in messages if isinstance(m, dict)]) if isinstance(messages, list) else []


def with_messages(example: Example, messages: list[Message]) -> Example:
    updated = copy.deepcopy(example)
    conversation_list(updated)
    updated["messages"] = messages
    return updated


def move(messages: list[Message], index: int, offset: int) -> list[Message]:
    """The list with message ``index`` moved up (-1) or down (+1); unchanged at the ends."""
    target = index + offset
    if not (0 <= index < len(messages) and 0 <= target < len(messages)):
        return list(messages)
    moved = list(messages)
    moved[index], moved[target] = moved[target], moved[index]
    return moved


def remove(messages: list[Message], index: int) -> list[Message]:
    return [m for i, m in enumerate(messages) if i != index]


def add_turn(messages: list[Message]) -> list[Message]:
    """Append the next turn: a user question after an answer, else an assistant answer."""
    last_role = messages[-1].get("role") if messages else "assistant"
    role = "assistant" if last_role == "user" else "user"
    return [*messages, {"role": role, "content": ""}]


def set_message(messages: list[Message], index: int, role: str, content: str, trained: bool | None) -> list[Message]:
    """Replace one message's role and text; ``trained`` sets the assistant weight (None: no weight key)."""
    updated = copy.deepcopy(messages)
    message = {k: v for k, v in updated[index].items() if k != "weight"}
    message["role"], message["content"] = role, content
    if role == "assistant" and trained is False:
        message["weight"] = 0
    elif role == "assistant" and trained is True and "weight" in updated[index]:
        message["weight"] = 1
    updated[index] = message
    return updated
