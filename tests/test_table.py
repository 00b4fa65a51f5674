from lib.curate.conversation import add_turn, move, remove, set_message
from lib.curate.dataset import Row
from lib.curate.table import edits_from_editor, filter_rows, to_frame
from lib.openai_format.examples import Example, Message, single_turn, table_fields, with_table_fields

MULTI: Example = {
    "messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1", "weight": 0},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
    ]
}


def rows() -> list[Row]:
    return [
        Row(1, 1, single_turn("s", "Tell me about gold", "Au"), "approved", "metal"),
        Row(2, 2, MULTI, "draft", "chat, long", "check rhyme"),
        Row(3, 3, single_turn("", "Neon?", "Ne"), "rejected"),
    ]


def test_frame_shows_system_first_question_and_last_answer() -> None:
    frame = to_frame(list(enumerate(rows(), start=1)))
    assert list(frame.loc[1, ["row", "kind", "system", "user", "assistant"]]) == [2, "multi-turn", "s", "q1", "a2"]


def test_search_and_filters_keep_dataset_row_numbers() -> None:
    assert [n for n, _ in filter_rows(rows(), text="GOLD")] == [1]
    assert [n for n, _ in filter_rows(rows(), text="rhyme")] == [2]
    assert [n for n, _ in filter_rows(rows(), statuses=["rejected"])] == [3]
    assert [n for n, _ in filter_rows(rows(), tags=["long"])] == [2]
    assert [n for n, _ in filter_rows(rows(), text="a2")] == [2]


def test_editor_state_becomes_updates_additions_and_deletions() -> None:
    shown = rows()[1:]
    state = {
        "edited_rows": {0: {"assistant": "new answer", "status": "approved"}},
        "added_rows": [{"user": "Iron?", "assistant": "Fe"}, {}],
        "deleted_rows": [1],
    }
    edits = edits_from_editor(shown, state)
    assert edits.updates[2]["status"] == "approved"
    messages = edits.updates[2]["example"]["messages"]
    assert messages[4]["content"] == "new answer" and messages[2]["content"] == "a1"  # only the last answer changes
    assert [r.example for r in edits.added] == [single_turn("", "Iron?", "Fe")]
    assert edits.deleted == [3]


def test_table_fields_edit_system_prompt_in_place_or_add_or_remove_it() -> None:
    example = single_turn("", "q", "a")
    with_system = with_table_fields(example, system="Elle")
    assert table_fields(with_system) == ("Elle", "q", "a") and with_system["messages"][0]["role"] == "system"
    assert table_fields(with_table_fields(with_system, system="")) == ("", "q", "a")
    assert example == single_turn("", "q", "a")  # the original is untouched


def test_conversation_turns_move_remove_add_and_weights() -> None:
    messages: list[Message] = MULTI["messages"]
    assert [m["content"] for m in move(messages, 3, -1)][2:4] == ["q2", "a1"]
    assert move(messages, 0, -1) == messages
    assert len(remove(messages, 1)) == 4
    assert add_turn(messages)[-1] == {"role": "user", "content": ""}
    assert add_turn(messages[:4])[-1]["role"] == "assistant"
    assert set_message(messages, 4, "assistant", "x", trained=False)[4] == {
        "role": "assistant",
        "content": "x",
        "weight": 0,
    }
    assert set_message(messages, 2, "assistant", "a1", trained=True)[2]["weight"] == 1
    assert "weight" not in set_message(messages, 2, "user", "a1", trained=None)[2]


def test_cached_examples_are_read_only_and_copies_are_editable() -> None:
    import copy
    import pickle

    import pytest

    from lib.openai_format.examples import frozen, with_table_fields

    shared = frozen(single_turn("s", "q", "a"))
    with pytest.raises(TypeError, match="read-only"):
        shared["messages"][1]["content"] = "changed by one user for everyone"
    with pytest.raises(TypeError):
        shared["messages"].append({"role": "user", "content": "x"})
    edited = with_table_fields(shared, user="mine")  # an edit works on a copy
    assert edited["messages"][1]["content"] == "mine" and shared["messages"][1]["content"] == "q"
    mine = copy.deepcopy(shared)
    mine["messages"].append({"role": "user", "content": "x"})
    assert pickle.loads(pickle.dumps(shared)) == single_turn("s", "q", "a")
