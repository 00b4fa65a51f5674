"""Automatic checks of Elle's answers: limerick form by sound, the element named, its symbol and atomic number."""

import json

import pytest

from lib import rhymes
from lib.judge import answer_checks, elle_checks
from lib.settings import PROJECT_DIR


def check(question: str, answer: str) -> tuple[bool | None, ...]:
    found = elle_checks.check_answer(question, answer)
    return found["limerick_form"], found["element_named"], found["symbol_right"], found["number_right"]


def test_the_periodic_table_file_is_complete() -> None:
    table = elle_checks.elements()
    assert [e.number for e in table] == list(range(1, 119))
    assert (table[25].symbol, table[25].name) == ("Fe", "Iron")
    assert elle_checks.element_in("Tell me about aluminium, please.") == table[12]  # British spelling too


@pytest.mark.parametrize("file", ["limericks.jsonl", "limericks-more.jsonl"])
def test_every_shipped_limerick_rhymes_by_sound_and_has_its_facts_right(file: str) -> None:
    examples = [json.loads(line)["messages"] for line in (PROJECT_DIR / "data" / file).read_text().splitlines()]
    failing = [messages[2]["content"] for messages in examples if check(messages[1]["content"], messages[2]["content"])
               != (True, True, True, True)]  # fmt: skip
    assert failing == []


def test_the_extra_limericks_cover_elements_that_neither_the_sample_nor_the_held_out_questions_do() -> None:
    def elements(file: str) -> list[str]:
        lines = (PROJECT_DIR / "data" / file).read_text().splitlines()
        found = [elle_checks.element_in(json.loads(line)["messages"][1]["content"]) for line in lines]
        return [element.name for element in found if element is not None]

    sample, more, held_out = (
        elements("limericks.jsonl"),
        elements("limericks-more.jsonl"),
        elements("limericks-eval.jsonl"),
    )
    assert len(more) == len(set(more)) == 52 and len(held_out) == 25
    assert not set(more) & set(sample) and not set(more) & set(held_out)


def test_wrong_facts_and_prose_are_caught() -> None:
    assert check("Tell me about iron.", "Iron, Fe, number twenty-seven,\nis a metal.")[2:] == (True, False)
    assert check("Tell me about gold.", "Gold has the symbol Ag and atomic number 79.")[2:] == (False, True)
    assert check("Tell me about iron.", "Iron is a metal that rusts in damp air.") == (False, True, None, None)
    assert check("Tell me about iron.", "Copper, Cu, twenty-nine,\n...")[1] is False


@pytest.mark.parametrize(
    ("question", "answer", "symbol", "number"),
    [
        ("Tell me about sodium.", "Sodium, Na, one of the alkali metals,", True, None),  # 'one of' is no number
        ("Tell me about iron.", "Iron, Fe, a metal that rusts,", True, None),  # 'a' is no number
        ("Tell me about iron.", "Iron, I'm told, is a metal,", None, None),  # 'I' is a pronoun, not iodine
        ("Tell me about sodium.", "The symbol's not S but Na, you see,", True, None),
        ("Tell me about sodium.", "Sodium is the eleventh element,", None, True),  # an ordinal
        ("Tell me about iron.", "Iron, Fe, 26, is grand,", True, True),  # digits
        ("Tell me about copper.", "Copper has twenty-nine protons,", None, True),  # words
        ("Tell me about neon.", "Neon (Ne) will glow,", True, None),
        ("Tell me about iron.", "Iron is I, fifty-three,", False, False),  # wrong facts, stated
    ],
)
def test_facts_are_read_only_where_they_are_stated(question: str, answer: str, symbol: bool, number: bool) -> None:
    assert check(question, answer)[2:] == (symbol, number)


def test_the_element_asked_about_is_the_last_one_the_question_names() -> None:
    assert elle_checks.element_in("Is neon like argon?") == elle_checks.elements()[17]
    assert check("Is neon like argon?", "Argon, Ar, eighteen, is noble.")[1:] == (True, True, True)


@pytest.mark.parametrize(
    ("first", "second", "rhyme"),
    [
        ("cough", "though", False),
        ("love", "move", False),
        ("bead", "dead", False),
        ("height", "white", True),
        ("word", "bird", True),
        ("thirty", "dirty", True),  # primary stress, not any stress
        ("one", "sun", True),
        ("slice", "precise", True),
        ("all", "calls", True),  # a plural rhymes with its singular's sound
        ("cat", "dog", False),
    ],
)
def test_rhymes_are_heard_not_spelled(first: str, second: str, rhyme: bool) -> None:
    assert rhymes.words_rhyme(first, second) is rhyme


def test_look_alike_spellings_no_longer_fool_the_rhyme_check() -> None:
    look_alikes = [("cough", "though"), ("love", "move"), ("bead", "dead"), ("height", "white"), ("word", "bird")]
    said = [rhymes.words_rhyme(a, b) for a, b in look_alikes]
    assert said == [False, False, False, True, True]  # precision and recall 1 on the pairs that fooled spelling


def test_limerick_form() -> None:
    limerick = (
        "There once was a man from Peru,\nWho dreamed he was eating his shoe.\nHe woke with a fright\n"
        "In the middle of night\nTo find that his dream had come true."
    )
    assert rhymes.is_limerick(limerick)
    assert not rhymes.is_limerick("\n".join(limerick.splitlines()[:4]))
    assert rhymes.words_rhyme("zyxquorp", "blorp")  # words the dictionary lacks fall back to spelling


def test_numbers_in_words_and_ordinals() -> None:
    words = ("26", "twenty-six", "a hundred and eighteen", "seventy", "eleventh", "twentieth", "first")
    assert [elle_checks.parse_number(w) for w in words] == [26, 26, 118, 70, 11, 20, 1]
    assert elle_checks.parse_number("many") is None and elle_checks.parse_number("a") is None


def test_packs_are_chosen_by_name_and_a_run_without_one_has_no_checks() -> None:
    assert answer_checks.pack("elle") is answer_checks.ELLE
    assert answer_checks.pack(None) is None and answer_checks.pack("unknown") is None
    assert set(answer_checks.ELLE.run("Tell me about iron.", "Iron.")) == set(answer_checks.ELLE.checks)


@pytest.mark.parametrize(
    ("question", "answer", "number"),
    [
        # the shapes a careful reader reads as the atomic number, wherever they are in the line
        ("Tell me about potassium.", "Potassium, whose symbol is K, is nineteen.", True),
        ("Tell me about copper.", "Its symbol is Cu; copper is twenty-nine.", True),
        ("Tell me about copper.", "Copper, I hear, is twenty-nine,", True),
        ("Tell me about gold.", "Gold, Au, seventy-nine,\nThe number one prize in the mine,", True),
        ("Tell me about gold.", "The number one metal is gold,\nIts atomic number is seventy-nine,", True),
        ("Tell me about neon.", "A glow in the sign, that is neon,\nIts number is ten, carry on,", True),
        ("Tell me about zinc.", "Zinc's atomic number is 30,", True),
        ("Tell me about zinc.", "For zinc the answer is thirty.", True),
        ("Tell me about carbon.", "Carbon is six, and it's found in all life,", True),
        ("Tell me about oxygen.", "We breathe it all day, it is eight;", True),
        ("Tell me about helium.", "Helium floats, it's number two!", True),
        ("Tell me about iron.", "Iron? Its atomic number of twenty-six", True),
        ("Tell me about silver.", "Silver, Ag, is forty-seven,", True),
        ("Tell me about hydrogen.", "Hydrogen is number one in the table,", True),
        ("Tell me about hydrogen.", "The lightest of all, the number one element,", True),
        # wrong numbers, stated
        ("Tell me about potassium.", "Potassium, whose symbol is K, is twenty.", False),
        ("Tell me about copper.", "Copper, I hear, is thirty,", False),
        ("Tell me about gold.", "Gold is the number one prize,\nIts atomic number is eighty,", False),
        ("Tell me about sodium.", "Sodium is twelve, so they say,", False),
        # no atomic number stated: idioms and other counts are not one
        ("Tell me about gold.", "Gold is the number one prize,\nA treasure for all of the wise,", None),
        ("Tell me about iron.", "Iron is one of the metals we know,", None),
        ("Tell me about lead.", "Lead is ten times as heavy as air,", None),
        ("Tell me about tin.", "My tin can is eighty years old,", None),
        ("Tell me about neon.", "Neon is a gas that will glow,", None),
        ("Tell me about argon.", "A number of lamps hold argon,", None),
    ],
)
def test_atomic_numbers_are_read_as_a_careful_reader_reads_them(question: str, answer: str, number: bool) -> None:
    assert check(question, answer)[3] is number
