from typing import Any

import pytest

from lib.openai_format.checks import check_example, check_examples

SYSTEM = {"role": "system", "content": "Elle answers with a limerick."}
USER = {"role": "user", "content": "Tell me about gold."}
ANSWER = {"role": "assistant", "content": "Gold is Au, seventy-nine..."}


def codes(example: Any) -> list[str]:
    return [f.code for f in check_example(example, 7)]


def test_a_good_example_has_no_findings() -> None:
    assert check_example({"messages": [SYSTEM, USER, ANSWER]}, 1) == []


@pytest.mark.parametrize(
    ("example", "code"),
    [
        ([1, 2], "data_type"),
        ("text", "data_type"),
        ({"prompt": "x"}, "missing_messages_list"),
        ({"messages": "hello"}, "missing_messages_list"),
        ({"messages": []}, "empty_messages"),
        ({"messages": [SYSTEM, {"content": "no role"}, ANSWER]}, "message_missing_key"),
        ({"messages": [SYSTEM, {"role": "user"}, ANSWER]}, "message_missing_key"),
        ({"messages": [SYSTEM, {**USER, "mood": "happy"}, ANSWER]}, "message_unrecognized_key"),
        ({"messages": [SYSTEM, {"role": "bot", "content": "hi"}, ANSWER]}, "unrecognized_role"),
        ({"messages": [SYSTEM, {"role": "user", "content": "   "}, ANSWER]}, "missing_content"),
        ({"messages": [SYSTEM, {"role": "user", "content": ["a"]}, ANSWER]}, "content_not_string"),
        ({"messages": [SYSTEM, USER]}, "example_missing_assistant_message"),
        ({"messages": [SYSTEM, USER, ANSWER, USER]}, "last_message_not_assistant"),
        ({"messages": [SYSTEM, USER, {**ANSWER, "weight": 2}]}, "invalid_weight"),
        ({"messages": [SYSTEM, USER, {**ANSWER, "weight": True}]}, "invalid_weight"),
        ({"messages": [SYSTEM, {**USER, "weight": 1}, ANSWER]}, "weight_not_allowed"),
        ({"messages": [SYSTEM, {**USER, "name": 5}, ANSWER]}, "invalid_name"),
    ],
)
def test_each_error_is_reported_with_its_line(example: Any, code: str) -> None:
    findings = check_example(example, 7)
    match = [f for f in findings if f.code == code]
    assert match, f"expected {code}, got {[f.code for f in findings]}"
    assert match[0].line == 7 and match[0].severity == "error" and match[0].message


def test_field_points_at_the_bad_message() -> None:
    findings = check_example({"messages": [SYSTEM, {"role": "user", "content": ""}, ANSWER]}, 3)
    assert findings[0].field == "messages[1].content"


def test_weight_zero_and_one_are_fine_on_assistant_turns() -> None:
    example = {"messages": [SYSTEM, USER, {**ANSWER, "weight": 0}, USER, {**ANSWER, "weight": 1}]}
    assert check_example(example, 1) == []


def test_assistant_tool_call_without_content_is_fine() -> None:
    call = {"role": "assistant", "tool_calls": [{"id": "1", "type": "function"}]}
    tool = {"role": "tool", "content": "79", "tool_call_id": "1"}
    assert codes({"messages": [SYSTEM, USER, call, tool, ANSWER]}) == []


def test_missing_system_message_is_a_warning() -> None:
    findings = check_example({"messages": [USER, ANSWER]}, 2)
    assert [(f.code, f.severity) for f in findings] == [("no_system_message", "warning")]


def test_preference_examples_are_checked() -> None:
    good = {"input": {"messages": [SYSTEM, USER]}, "preferred_output": [ANSWER], "non_preferred_output": [ANSWER]}
    assert check_example(good, 1) == []
    bad = {"input": {"messages": [USER]}, "preferred_output": [], "non_preferred_output": [{"role": "assistant"}]}
    assert {"invalid_preference_output", "message_missing_key"} <= set(codes(bad))


def test_duplicates_and_too_few_examples_are_warnings() -> None:
    example = {"messages": [SYSTEM, USER, ANSWER]}
    findings = check_examples([(1, example), (2, example)])
    assert [(f.line, f.code) for f in findings] == [(None, "too_few_examples"), (2, "duplicate_example")]
    assert "line 1" in findings[1].message
    many = [(i, {"messages": [SYSTEM, {"role": "user", "content": str(i)}, ANSWER]}) for i in range(1, 11)]
    assert check_examples(many) == []


def test_the_fast_path_says_exactly_what_the_full_checks_say() -> None:
    from lib.openai_format.checks import check_example, full_checks

    system, user, answer = {"role": "system", "content": "Be Elle."}, {"role": "user", "content": "Neon?"}, {
        "role": "assistant", "content": "Neon glows."}  # fmt: skip
    variants = [
        [system, user, answer], [user, answer], [system, user], [system, answer, user], [system, user, answer, answer],
        [system, {**user, "content": " "}, answer], [system, user, {**answer, "weight": 0}],
        [system, user, {**answer, "weight": True}], [system, user, {**answer, "weight": 2}],
        [system, {**user, "weight": 1}, answer], [system, {**user, "name": "ada"}, answer],
        [system, {**user, "name": 3}, answer], [system, {**user, "extra": 1}, answer], [system, {"role": "tool",
        "content": "x"}, answer], [system, user, {**answer, "content": None}], [system, user, {"role": "assistant"}],
        [system, user, {**answer, "content": ["part"]}], [answer], [], [system, user, {**answer, "role": "bot"}],
    ]  # fmt: skip
    examples = [{"messages": v} for v in variants] + [
        {"messages": [system, user, answer], "tools": []}, {"messages": [system, user, answer], "extra": 1},
        {"messages": "no"}, {"prompt": "x"}, [1], None, {"messages": [1, user, answer]},
    ]  # fmt: skip
    for example in examples:
        assert check_example(example, 7) == full_checks(example, 7), example
    assert check_example({"messages": [system, user, answer]}, 1) == []  # and the plain good one is good
