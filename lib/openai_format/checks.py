"""Format checks for fine-tuning examples: a superset of OpenAI's reference checks.

Every finding names the 1-based line (file) or row (dataset) it is about, a stable
``code``, a ``severity`` ("error" blocks training, "warning" is advice), a message for
people and, where it helps, the ``field`` (``messages[2].content``).
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from hashlib import blake2b
from typing import Annotated, Any, Literal

import msgspec
import numpy as np

from lib.openai_format.examples import ROLES, is_preference
from lib.openai_format.rules import MIN_EXAMPLES

Severity = Literal["error", "warning"]

MESSAGE_KEYS = {"role", "content", "name", "weight", "function_call", "tool_calls", "tool_call_id"}
EXAMPLE_KEYS = {"messages", "tools", "functions", "parallel_tool_calls"}
PREFERENCE_KEYS = {"input", "preferred_output", "non_preferred_output"}


@dataclass(frozen=True)
class Finding:
    line: int | None  # None: about the whole file or dataset
    code: str
    severity: Severity
    message: str
    field: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _error(line: int | None, code: str, message: str, field: str = "") -> Finding:
    return Finding(line, code, "error", message, field)


def _warning(line: int | None, code: str, message: str, field: str = "") -> Finding:
    return Finding(line, code, "warning", message, field)


_Text = Annotated[str, msgspec.Meta(pattern=r"\S")]  # text with something in it


class _System(msgspec.Struct, tag_field="role", tag="system", forbid_unknown_fields=True):
    content: _Text
    name: str = ""


class _User(msgspec.Struct, tag_field="role", tag="user", forbid_unknown_fields=True):
    content: _Text
    name: str = ""


class _Assistant(msgspec.Struct, tag_field="role", tag="assistant", forbid_unknown_fields=True):
    content: _Text
    name: str = ""
    weight: Literal[0, 1] = 1


class _Chat(msgspec.Struct, forbid_unknown_fields=True):
    messages: list[_System | _User | _Assistant]


def _plainly_good(example: Any) -> bool:
    """Whether ``example`` is a chat with nothing any check below would say: its shape, roles, texts and
    weights checked in C (msgspec), then its order. Anything else gets the full checks."""
    try:
        messages = msgspec.convert(example, _Chat, strict=True).messages
    except msgspec.ValidationError:
        return False
    return len(messages) > 1 and type(messages[0]) is _System and type(messages[-1]) is _Assistant


def check_example(example: Any, line: int | None) -> list[Finding]:
    """Every problem with one example, in the order a reader meets them."""
    if type(example) is dict and "messages" in example and _plainly_good(example):
        return []
    return full_checks(example, line)


def full_checks(example: Any, line: int | None) -> list[Finding]:
    """check_example without its fast path (it must always agree with it)."""
    if not isinstance(example, dict):
        kind = type(example).__name__ if example is not None else "null"
        return [_error(line, "data_type", f"Each line must be a JSON object, not {kind}.")]
    if is_preference(example):
        return _check_preference(example, line)
    findings = [
        _warning(line, "unrecognized_key", f"Unknown key '{key}' is ignored by training.", key)
        for key in example
        if key not in EXAMPLE_KEYS
    ]
    messages = example.get("messages")
    if not isinstance(messages, list):
        return [*findings, _error(line, "missing_messages_list", "The example needs a 'messages' list.", "messages")]
    return findings + _check_messages(messages, line, "messages", needs_system_warning=True)


def _check_preference(example: dict[str, Any], line: int | None) -> list[Finding]:
    findings = [
        _warning(line, "unrecognized_key", f"Unknown key '{key}' is ignored by training.", key)
        for key in example
        if key not in PREFERENCE_KEYS
    ]
    prompt = example.get("input")
    messages = prompt.get("messages") if isinstance(prompt, dict) else None
    if not isinstance(messages, list):
        findings.append(
            _error(line, "missing_messages_list", "A preference example needs 'input.messages'.", "input.messages")
        )
    else:
        findings += _check_messages(messages, line, "input.messages", needs_system_warning=False, is_prompt=True)
    for key in ("preferred_output", "non_preferred_output"):
        output = example.get(key)
        if not (isinstance(output, list) and len(output) == 1 and isinstance(output[0], dict)):
            findings.append(_error(line, "invalid_preference_output", f"'{key}' must hold one assistant message.", key))
            continue
        findings += _check_messages(output, line, key, needs_system_warning=False)
    return findings


def _check_messages(
    messages: list[Any], line: int | None, where: str, needs_system_warning: bool, is_prompt: bool = False
) -> list[Finding]:
    if not messages:
        return [_error(line, "empty_messages", f"'{where}' is empty: add a user and an assistant message.", where)]
    findings: list[Finding] = []
    for index, message in enumerate(messages):
        findings += _check_message(message, line, f"{where}[{index}]")
    roles = [m.get("role") for m in messages if isinstance(m, dict)]
    if not is_prompt and "assistant" not in roles:
        findings.append(
            _error(line, "example_missing_assistant_message", "There is no assistant message to learn from.", where)
        )
    elif not is_prompt and roles and roles[-1] != "assistant":
        findings.append(
            _error(line, "last_message_not_assistant", "The last message must be the assistant's answer.", where)
        )
    if needs_system_warning and "system" not in roles:
        findings.append(
            _warning(line, "no_system_message", "No system message: the model gets no instructions.", where)
        )
    return findings


def _check_message(message: Any, line: int | None, field: str) -> list[Finding]:
    if not isinstance(message, dict):
        return [_error(line, "data_type", "Each message must be a JSON object.", field)]
    findings: list[Finding] = []
    role = message.get("role")
    if "role" not in message:
        findings.append(_error(line, "message_missing_key", "A message has no 'role'.", f"{field}.role"))
    elif role not in ROLES:
        findings.append(
            _error(line, "unrecognized_role", f"Unknown role {json.dumps(role)}; use one of {', '.join(ROLES)}.", field)
        )
    for key in message:
        if key not in MESSAGE_KEYS:
            findings.append(_error(line, "message_unrecognized_key", f"Unknown message key '{key}'.", f"{field}.{key}"))
    findings += _check_content(message, line, field)
    if "name" in message and not isinstance(message["name"], str):
        findings.append(_error(line, "invalid_name", "'name' must be a string.", f"{field}.name"))
    if "weight" in message:
        weight = message["weight"]
        if role != "assistant":
            findings.append(_error(line, "weight_not_allowed", "Only assistant messages may have a 'weight'.", field))
        elif isinstance(weight, bool) or weight not in (0, 1):
            findings.append(
                _error(line, "invalid_weight", f"'weight' must be 0 or 1, not {json.dumps(weight)}.", f"{field}.weight")
            )
    return findings


def _check_content(message: dict[str, Any], line: int | None, field: str) -> list[Finding]:
    tool_call_answer = message.get("role") == "assistant" and message.get("tool_calls")
    if "content" not in message:
        if tool_call_answer:
            return []
        return [_error(line, "message_missing_key", "A message has no 'content'.", f"{field}.content")]
    content = message["content"]
    if content is None and tool_call_answer:
        return []
    if not isinstance(content, str):
        return [_error(line, "content_not_string", "'content' must be text.", f"{field}.content")]
    if not content.strip():
        return [_error(line, "missing_content", "'content' is empty.", f"{field}.content")]
    return []


def _canonical(example: Any) -> bytes:
    """The example as sorted-key JSON, to find exact duplicates (msgspec's encoder: several times json's speed)."""
    try:
        return msgspec.json.encode(example, order="sorted")
    except (TypeError, OverflowError, msgspec.EncodeError):  # what only the standard library can write
        return json.dumps(example, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


class Duplicates:
    """Exact duplicate examples, found from an 8-byte digest of each one's canonical JSON: 16 bytes an example,
    whatever the examples hold, so a stream of a million lines is checked without keeping them (two different
    examples share a digest about once in 10^19 pairs)."""

    def __init__(self) -> None:
        self._digests = array("Q")
        self._lines = array("Q")

    def add(self, line: int, example: Any) -> None:
        digest = blake2b(_canonical(example), digest_size=8).digest()
        self._digests.append(int.from_bytes(digest, "little"))
        self._lines.append(line)

    def findings(self) -> list[Finding]:
        """A warning on every repeat, naming the first line that holds the same example."""
        if not self._digests:
            return []
        digests = np.frombuffer(self._digests, dtype=np.uint64)
        lines = np.frombuffer(self._lines, dtype=np.uint64)
        order = np.argsort(digests, kind="stable")  # stable: equal digests stay in line order
        ordered = digests[order]
        starts_group = np.ones(len(ordered), dtype=bool)
        starts_group[1:] = ordered[1:] != ordered[:-1]
        group_start = np.maximum.accumulate(np.where(starts_group, np.arange(len(ordered)), 0))
        repeats = np.flatnonzero(~starts_group)
        pairs = zip(lines[order[repeats]].tolist(), lines[order[group_start[repeats]]].tolist(), strict=True)
        return [
            _warning(line, "duplicate_example", f"Same example as line {first}: it adds nothing.")
            for line, first in pairs
        ]


def check_examples(numbered: Iterable[tuple[int, Any]]) -> list[Finding]:
    """Findings for every example plus whole-set ones: duplicates and too few examples."""
    findings: list[Finding] = []
    duplicates = Duplicates()
    count = 0
    for line, example in numbered:
        count += 1
        if found := check_example(example, line):
            findings += found
        duplicates.add(line, example)
    findings += duplicates.findings()
    if (few := too_few(count)) is not None:
        findings.append(few)
    return sort_findings(findings)


def too_few(count: int) -> Finding | None:
    """The warning for a file or dataset with fewer examples than fine-tuning needs."""
    if count >= MIN_EXAMPLES:
        return None
    return _warning(
        None,
        "too_few_examples",
        f"{count} examples could be read: fine-tuning needs at least {MIN_EXAMPLES}; 50 to 100 is where "
        "gains usually show.",
    )


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Whole-file findings first, then by line; findings of one line keep their order."""
    return sorted(findings, key=lambda f: (f.line is not None, f.line or 0))


def error_lines(findings: Iterable[Finding]) -> set[int]:
    """The lines or rows that have at least one error."""
    return {f.line for f in findings if f.severity == "error" and f.line is not None}
