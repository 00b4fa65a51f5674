"""Chat examples in OpenAI's fine-tuning format, and the table view of them.

An example is the JSON object of one training line: ``{"messages": [...]}`` for
supervised examples, ``{"input": {"messages": [...]}, "preferred_output": [...],
"non_preferred_output": [...]}`` for preference (DPO) examples.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

Example = dict[str, Any]
Message = dict[str, Any]
ExampleKind = Literal["single-turn", "multi-turn", "preference", "invalid"]

ROLES = ("system", "user", "assistant", "tool")


def single_turn(system: str, user: str, assistant: str) -> Example:
    """A one-question example; an empty system prompt is left out."""
    messages: list[Message] = []
    if system.strip():
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user})
    messages.append({"role": "assistant", "content": assistant})
    return {"messages": messages}


def is_preference(example: Any) -> bool:
    return isinstance(example, dict) and "preferred_output" in example


def conversation(example: Any) -> list[Message]:
    """The prompt-and-answer messages of an example (for preference examples: input + preferred)."""
    if not isinstance(example, dict):
        return []
    if is_preference(example):
        prompt = example.get("input", {})
        messages = prompt.get("messages", []) if isinstance(prompt, dict) else []
        preferred = example.get("preferred_output", [])
        answer = preferred if isinstance(preferred, list) else []
        return [m for m in [*messages, *answer] if isinstance(m, dict)] if isinstance(messages, list) else []
    messages = example.get("messages", [])
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def kind(example: Any) -> ExampleKind:
    if not isinstance(example, dict):
        return "invalid"
    if is_preference(example):
        return "preference"
    messages = conversation(example)
    turns = [m for m in messages if m.get("role") in ("user", "assistant", "tool")]
    return "single-turn" if len(turns) <= 2 else "multi-turn"


def _text(message: Message | None) -> str:
    if message is None:
        return ""
    content = message.get("content")
    return content if isinstance(content, str) else ("" if content is None else str(content))


def _first(messages: list[Message], role: str) -> Message | None:
    return next((m for m in messages if m.get("role") == role), None)


def _last(messages: list[Message], role: str) -> Message | None:
    return next((m for m in reversed(messages) if m.get("role") == role), None)


def table_fields(example: Any) -> tuple[str, str, str]:
    """(system, user, assistant) as the table shows them: the system prompt, first question, last answer."""
    messages = conversation(example)
    system = messages[0] if messages and messages[0].get("role") == "system" else None
    return _text(system), _text(_first(messages, "user")), _text(_last(messages, "assistant"))


def with_table_fields(
    example: Any, system: str | None = None, user: str | None = None, assistant: str | None = None
) -> Example:
    """A copy of ``example`` with the table's fields changed (None leaves a field alone)."""
    updated = copy.deepcopy(example)  # first: reading conversation_list() may add an empty list
    if not isinstance(updated, dict) or not isinstance(conversation_list(updated), list):
        updated = single_turn("", "", "")
    messages = conversation_list(updated)
    answers = updated["preferred_output"] if is_preference(updated) else messages
    if system is not None:
        has_system = bool(messages) and isinstance(messages[0], dict) and messages[0].get("role") == "system"
        if has_system and system.strip():
            messages[0]["content"] = system
        elif has_system:
            del messages[0]
        elif system.strip():
            messages.insert(0, {"role": "system", "content": system})
    if user is not None:
        _set_content(messages, "user", user, first=True)
    if assistant is not None:
        _set_content(answers, "assistant", assistant, first=False)
    return updated


def rejected_text(example: Any) -> str | None:
    """A preference example's non-preferred answer (None for a chat)."""
    if not is_preference(example):
        return None
    rejected = example.get("non_preferred_output")
    return _text(_last(rejected, "assistant")) if isinstance(rejected, list) else ""


def with_rejected(example: Any, text: str) -> Example:
    """A copy of a preference example with its non-preferred answer replaced."""
    updated = copy.deepcopy(example)
    rejected = updated.get("non_preferred_output")
    if not isinstance(rejected, list):
        rejected = updated["non_preferred_output"] = []
    _set_content(rejected, "assistant", text, first=False)
    return updated


def conversation_list(example: Example) -> Any:
    """The mutable list of prompt messages inside ``example`` (may be a non-list in bad data)."""
    if is_preference(example):
        prompt = example.setdefault("input", {})
        return prompt.setdefault("messages", []) if isinstance(prompt, dict) else None
    return example.setdefault("messages", [])


def _set_content(messages: list[Any], role: str, text: str, first: bool) -> None:
    candidates = [m for m in messages if isinstance(m, dict) and m.get("role") == role]
    if candidates:
        (candidates[0] if first else candidates[-1])["content"] = text
    elif role == "user":
        at = 1 if messages and isinstance(messages[0], dict) and messages[0].get("role") == "system" else 0
        messages.insert(at, {"role": "user", "content": text})
    else:
        messages.append({"role": role, "content": text})


def _read_only(*args: Any, **kwargs: Any) -> None:
    raise TypeError("This example is shared read-only (a cached view): copy.deepcopy() it to make a change.")


class FrozenDict(dict[str, Any]):
    """A dict that refuses changes; ``copy.deepcopy`` gives a plain, editable dict."""

    __setitem__ = __delitem__ = __ior__ = _read_only  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {key: copy.deepcopy(value, memo) for key, value in self.items()}

    def __reduce__(self) -> tuple[Any, ...]:  # pickled (or copied) as a plain dict
        return (dict, (dict(self),))


class FrozenList(list[Any]):
    """A list that refuses changes; ``copy.deepcopy`` gives a plain, editable list."""

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only  # type: ignore[assignment]
    append = extend = insert = remove = pop = clear = sort = reverse = _read_only

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [copy.deepcopy(value, memo) for value in self]

    def __reduce__(self) -> tuple[Any, ...]:  # pickled (or copied) as a plain list
        return (list, (list(self),))


def frozen(value: Any) -> Any:
    """A read-only copy of an example (dicts and lists all the way down), for caches shared by every user."""
    if isinstance(value, dict):
        return FrozenDict({key: frozen(item) for key, item in value.items()})
    if isinstance(value, list):
        return FrozenList(frozen(item) for item in value)
    return value
