"""Automatic checks of Elle's answers: limerick form, the element named, its symbol and atomic number."""

import json

from lib.judge import answer_checks
from lib.paths import PROJECT_DIR


def test_the_periodic_table_file_is_complete() -> None:
    table = answer_checks.elements()
    assert [e.number for e in table] == list(range(1, 119))
    assert (table[25].symbol, table[25].name) == ("Fe", "Iron")
    assert answer_checks.element_in("Tell me about aluminium, please.") == table[12]  # British spelling too


def test_every_sample_answer_has_its_facts_right() -> None:
    lines = (PROJECT_DIR / "data" / "limericks.jsonl").read_text().splitlines()
    results = []
    for line in lines:
        messages = json.loads(line)["messages"]
        results.append(answer_checks.check_answer(messages[1]["content"], messages[2]["content"]))
    assert all(r.names_element and r.symbol_right and r.number_right for r in results)
    assert sum(r.limerick for r in results) >= 35  # the five others end on near rhymes (home/alone)


def test_wrong_facts_and_prose_are_caught() -> None:
    wrong = answer_checks.check_answer("Tell me about iron.", "Iron, Fe, number twenty-seven,\nis a metal.")
    assert (wrong.symbol_right, wrong.number_right) == (True, False)
    assert (
        answer_checks.check_answer("Tell me about gold.", "Gold has the symbol Ag and atomic number 79.").symbol_right
        is False
    )
    prose = answer_checks.check_answer("Tell me about iron.", "Iron is a metal that rusts in damp air.")
    assert (prose.limerick, prose.names_element, prose.symbol_right, prose.number_right) == (False, True, None, None)
    other = answer_checks.check_answer("Tell me about iron.", "Copper, Cu, twenty-nine,\n...")
    assert other.names_element is False


def test_rhyme_heuristic() -> None:
    assert answer_checks.rhymes("Hydrogen, H, number one,", "Is the fuel that keeps burning the sun.")
    assert answer_checks.rhymes("that slice", "so precise") and answer_checks.rhymes("rays", "a glaze")
    assert not answer_checks.rhymes("the cat", "the dog")
    limerick = (
        "There once was a man from Peru,\nWho dreamed he was eating his shoe.\nHe woke with a fright\n"
        "In the middle of night\nTo find that his dream had come true."
    )
    assert answer_checks.is_limerick(limerick)
    assert not answer_checks.is_limerick("\n".join(limerick.splitlines()[:4]))


def test_numbers_in_words() -> None:
    assert [answer_checks.parse_number(w) for w in ("26", "twenty-six", "a hundred and eighteen", "seventy")] == [
        26, 26, 118, 70,
    ]  # fmt: skip
    assert answer_checks.parse_number("many") is None
