"""Automatic checks of an Elle answer: is it a limerick, does it name the element, are its facts right.

Heuristics, shown beside the reviewers' ratings, never instead of them. A fact the answer does not
state is "not stated" (None), not wrong.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache

from lib.paths import SAMPLE_DIR

ELEMENTS_FILE = SAMPLE_DIR / "elements.csv"


@dataclass(frozen=True)
class Element:
    number: int
    symbol: str
    name: str
    also: str = ""  # another spelling (Aluminium, Sulphur, Caesium)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, self.also) if self.also else (self.name,)


@dataclass(frozen=True)
class CheckResult:
    limerick: bool  # five lines rhyming AABBA
    names_element: bool | None  # None: the question names no element
    symbol_right: bool | None  # None: no symbol stated (or no element asked about)
    number_right: bool | None  # None: no atomic number stated

    def passed(self) -> int:
        """How many checks passed (a fact not stated counts as not passed)."""
        return sum(bool(v) for v in (self.limerick, self.names_element, self.symbol_right, self.number_right))


@cache
def elements() -> tuple[Element, ...]:
    with ELEMENTS_FILE.open(newline="", encoding="utf-8") as file:
        return tuple(Element(int(r["number"]), r["symbol"], r["name"], r["also"]) for r in csv.DictReader(file))


def element_in(text: str) -> Element | None:
    """The first element named in ``text`` (by name, whole word, any case)."""
    lowered = text.lower()
    found = [
        (match.start(), element)
        for element in elements()
        for name in element.names
        if (match := re.search(rf"\b{name.lower()}\b", lowered))
    ]
    return min(found, key=lambda pair: pair[0])[1] if found else None


# ---- rhyme ----------------------------------------------------------------------------------

# Vowel spellings that sound alike at the end of an English word, by sound class.
_VOWEL_CLASSES = [
    {"o", "u", "oo", "ou", "ue", "ew", "ough", "wo", "oe"},
    {"a", "ai", "ay", "ei", "ey", "ea", "eigh"},
    {"e", "ee", "ea", "ie", "i", "y", "ey"},
    {"i", "y", "ie", "igh", "ye", "uy"},
    {"ow", "ou", "o", "oa", "oe"},
]
# Endings spelled differently that sound the same: tricks/six, slice/precise, design/fine.
_SOUND_ALIKE_ENDINGS = [("cks", "x"), ("ks", "x"), ("ck", "k"), ("ce", "s"), ("gn", "n"), ("ph", "f")]


def _last_word(line: str) -> str:
    words = re.findall(r"[a-z']+", line.lower())
    return words[-1].strip("'") if words else ""


def _rhyme_parts(word: str) -> tuple[str, str]:
    """(last vowel sound spelling, consonants after it), with a plural s and a silent final e dealt with."""
    for spelled, sound in _SOUND_ALIKE_ENDINGS:
        if word.endswith(spelled):
            word = word[: -len(spelled)] + sound
            break
    else:
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1] + "z" if word[-2] in "aeiouy" else word[:-1]  # rays/glaze, calls/all
    if len(word) > 2 and word.endswith("e") and word[-2] not in "aeiouy":
        word = word[:-1]
    head, body = (word[0], word[1:]) if word.startswith("y") else ("", word)  # a leading y is a consonant
    match = re.search(r"([aeiouy]+(?:gh|w)?)([^aeiouy]*)$", body)
    if not match:
        return "", head + body
    tail = re.sub(r"(.)\1", r"\1", match.group(2))  # glass/gas, hill/nil
    return match.group(1), tail


def rhymes(first: str, second: str) -> bool:
    """Whether two line-ending words rhyme, by spelling (a heuristic: 'one' and 'sun' rhyme, 'cat' and 'dog' do not)."""
    a, b = _last_word(first), _last_word(second)
    if not a or not b:
        return False
    if a == b or (len(a) > 2 and len(b) > 2 and a[-3:] == b[-3:]):
        return True
    (vowel_a, tail_a), (vowel_b, tail_b) = _rhyme_parts(a), _rhyme_parts(b)
    if tail_a != tail_b:
        return False
    return vowel_a == vowel_b or any(vowel_a in c and vowel_b in c for c in _VOWEL_CLASSES)


def is_limerick(text: str) -> bool:
    """Five lines, rhyming AABBA."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) != 5:
        return False
    one, two, three, four, five = lines
    return rhymes(one, two) and rhymes(one, five) and rhymes(three, four)


# ---- facts ----------------------------------------------------------------------------------

_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
_UNITS += "seventeen eighteen nineteen"
_NUMBER_WORDS = {word: n for n, word in enumerate(_UNITS.split())}
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_NUMBER_WORDS |= {word: 10 * n for n, word in enumerate(_TENS, start=2)}
_NUMBER_PATTERN = r"(\d{1,3}|(?:(?:a|one)[ -])?hundred(?:[ -](?:and[ -])?[a-z]+(?:-[a-z]+)?)?|[a-z]+(?:-[a-z]+)?)"


def parse_number(words: str) -> int | None:
    """'26', 'twenty-six', 'a hundred and eighteen' → the number; None if it is not one."""
    words = words.strip().lower()
    if words.isdigit():
        return int(words)
    total = 0
    for part in re.split(r"[ -]+", words):
        if part in ("a", "and"):
            continue
        if part == "hundred":
            total = max(total, 1) * 100
        elif part in _NUMBER_WORDS:
            total += _NUMBER_WORDS[part]
        else:
            return None
    return total if words else None


def _introduction(text: str, element: Element) -> re.Match[str] | None:
    """Elle's opening: 'Iron, Fe, number twenty-six', 'Zinc, that is Zn, thirty', 'Neon (Ne), 10'."""
    names = "|".join(element.names)
    return re.search(
        rf"\b(?:{names})\b,?(?:\s+(?:that\s+)?is)?[,\s(]+([A-Za-z]{{1,2}})\b[),]*\s*(?:(?:atomic\s+)?number\s+)?{_NUMBER_PATTERN}?",
        text,
        re.IGNORECASE,
    )


def stated_number(text: str, element: Element | None = None) -> int | None:
    """The atomic number an answer states ('number twenty-six', 'Fe, 26'), if any."""
    for match in re.finditer(rf"\bnumber\s+(?:is\s+)?{_NUMBER_PATTERN}", text.lower()):
        number = parse_number(match.group(1))
        if number is not None:
            return number
    if element and (opening := _introduction(text, element)) and opening.group(2):
        return parse_number(opening.group(2))
    return None


def stated_symbol(text: str, element: Element) -> str | None:
    """The symbol an answer gives: after 'symbol', or right after the element's name ('Iron, Fe, ...')."""
    match = re.search(r"\bsymbol\s+(?:is\s+)?[\"'“(]?([A-Z][a-z]?)\b", text)
    if match:
        return match.group(1)
    opening = _introduction(text, element)
    if opening and opening.group(1)[0].isupper() and opening.group(1)[1:] in ("", opening.group(1)[1:].lower()):
        return opening.group(1)
    return None


def check_answer(question: str, answer: str) -> CheckResult:
    """All automatic checks of one answer to one question."""
    element = element_in(question)
    if element is None:
        return CheckResult(is_limerick(answer), None, None, None)
    named = any(re.search(rf"\b{name}\b", answer, re.IGNORECASE) for name in element.names)
    symbol = stated_symbol(answer, element)
    number = stated_number(answer, element)
    return CheckResult(
        is_limerick(answer),
        named,
        None if symbol is None else symbol == element.symbol,
        None if number is None else number == element.number,
    )
