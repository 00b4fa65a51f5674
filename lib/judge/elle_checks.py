"""Elle's answer-check pack: is it a limerick (by sound), does it name the element, are its facts right.

Heuristics, shown beside the reviewers' ratings, never instead of them. A fact the answer does not
state is "not stated" (None), not wrong.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache

from lib.rhymes import is_limerick
from lib.settings import SAMPLE_DIR

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


@cache
def elements() -> tuple[Element, ...]:
    with ELEMENTS_FILE.open(newline="", encoding="utf-8") as file:
        return tuple(Element(int(r["number"]), r["symbol"], r["name"], r["also"]) for r in csv.DictReader(file))


def element_in(text: str) -> Element | None:
    """The element a question asks about: the last one it names (by name, whole word, any case)."""
    lowered = text.lower()
    found = [
        (match.start(), element)
        for element in elements()
        for name in element.names
        if (match := re.search(rf"\b{name.lower()}\b", lowered))
    ]
    return max(found, key=lambda pair: pair[0])[1] if found else None


# ---- facts ----------------------------------------------------------------------------------

_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
_UNITS += "seventeen eighteen nineteen"
_NUMBER_WORDS = {word: n for n, word in enumerate(_UNITS.split())}
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_NUMBER_WORDS |= {word: 10 * n for n, word in enumerate(_TENS, start=2)}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fifth": 5, "eighth": 8, "ninth": 9, "twelfth": 12}
_ORDINALS |= {f"{word}th": n for word, n in _NUMBER_WORDS.items() if n and word not in ("five", "eight", "nine")}
_ORDINALS |= {word[:-1] + "ieth": n for word, n in _NUMBER_WORDS.items() if word.endswith("ty")}
_ORDINALS |= {"hundredth": 100}
_WORD = r"[a-z]+(?:-[a-z]+)*"
# A number in digits or words: '26', 'twenty-six', 'a hundred and eighteen', 'one hundred eighteen'.
_NUMBER = rf"(\d{{1,3}}|(?:(?:a|one)[ -])?hundred(?:[ -](?:and[ -])?{_WORD})?|{_WORD})"


def parse_number(words: str) -> int | None:
    """'26', 'twenty-six', 'a hundred and eighteen', 'eleventh' → the number; None if it is not one ('a')."""
    words = words.strip().lower()
    if words.isdigit():
        return int(words)
    parts = [part for part in re.split(r"[ -]+", words) if part]
    if parts[:1] == ["a"]:
        parts = parts[1:]  # 'a hundred'
    total, seen = 0, False
    for part in parts:
        if part == "and" and seen:
            continue
        if part in ("hundred", "hundredth"):
            total = max(total, 1) * 100
        elif part in _NUMBER_WORDS:
            total += _NUMBER_WORDS[part]
        elif part in _ORDINALS:
            total += _ORDINALS[part]
        else:
            return None
        seen = True
    return total if seen else None


def _symbols() -> frozenset[str]:
    return frozenset(element.symbol for element in elements())


def _introduction(text: str, element: Element) -> re.Match[str] | None:
    """Elle's opening names the element, then its symbol: 'Iron, Fe, …', 'Lead is Pb, …', 'Neon (Ne) …'.

    A symbol stands alone: capitalised, followed by a comma, a bracket, a full stop or a number, and never
    a word in its own right ('Iron, I'm told', 'Iron, a metal').
    """
    names = "|".join(element.names)
    return re.search(
        rf"\b(?i:{names})\b\s*(?:,\s*(?:that\s+is\s+|i\.e\.\s*)?|\s+is\s+|\(\s*)([A-Z][a-z]?)(?=\s*[,;).]|\s+(?:number\s+)?\d|\s*$)",
        text,
    )


def stated_symbol(text: str, element: Element) -> str | None:
    """The symbol an answer gives: after 'symbol' ('symbol is Na', 'symbol's not S but Na'), or in the opening."""
    after_symbol = re.search(
        r"\bsymbol(?:'s|\s+is)?\s+(?:not\s+[A-Z][a-z]?\s*,?\s+but\s+)?[\"'“(]?([A-Z][a-z]?)\b", text
    )
    if after_symbol and after_symbol.group(1) in _symbols():
        return after_symbol.group(1)
    opening = _introduction(text, element)
    if opening and opening.group(1) in _symbols():
        return opening.group(1)
    return None


# What may follow a number that is the answer's statement of it: punctuation, the line's end, or a joining word.
# Anything else ('is one of the metals', 'is ten times lighter', 'is eighty years old') is not a stated number.
_STATEMENT_END = r"(?=\s*[,;:.!?)\u2014]|\s*$|\s+(?:and|with|but|so|or|he|she|it|you|i|we|they|my|its|for|in|on|the)\b)"
_ATOMIC, _NUMBERED, _IS = 0, 1, 2  # how surely a match states the atomic number, surest first


def _candidates(text: str, element: Element | None) -> list[tuple[int, int, int]]:
    """(strength, position, number) for every place the answer may state its atomic number."""
    lowered = text.lower()
    found: list[tuple[int, int, int]] = []

    def add(strength: int, match: re.Match[str], group: int = 1) -> None:
        number = parse_number(match.group(group))
        if number is not None and 0 < number <= 200:
            found.append((strength, match.start(), number))

    for match in re.finditer(rf"\batomic\s+number\s+(?:is\s+|of\s+|being\s+)?{_NUMBER}", lowered):
        add(_ATOMIC, match)
    for match in re.finditer(rf"\b(?<!atomic )number\s+(?:is\s+|of\s+)?{_NUMBER}", lowered):
        idiom = re.match(r"\s+(?!in\b|on\b|of\b|and\b|at\b|with\b|element\b)[a-z]", lowered[match.end() :])
        if not (parse_number(match.group(1)) == 1 and idiom):  # 'the number one prize' states no atomic number
            add(_NUMBERED, match)
    for match in re.finditer(rf"\b({_WORD})\s+(?:element|in\s+the\s+(?:periodic\s+)?table)\b", lowered):
        if match.group(1) in _ORDINALS:
            add(_NUMBERED, match)
    for match in re.finditer(rf"{_NUMBER}\s+protons\b", lowered):
        add(_NUMBERED, match)
    for match in re.finditer(rf"\b(?:is|it's|that's|was)\s+(?:number\s+)?{_NUMBER}{_STATEMENT_END}", lowered):
        add(_IS, match)
    if element and (opening := _introduction(text, element)):
        after = lowered[opening.end() :]
        words = re.match(rf"\s*[,;]?\s*{_NUMBER}(?!\s+of\b)(?=\s*[,;.!?)]|\s*$|\s+(?:and|with|is|he|she|it)\b)", after)
        if words:
            number = parse_number(words.group(1))
            if number is not None:
                found.append((_NUMBERED, opening.end(), number))
    return found


def stated_number(text: str, element: Element | None = None) -> int | None:
    """The atomic number an answer states, read as a careful reader reads it; never a pronoun or article.

    'atomic number 26' over 'number twenty-six', 'Fe, 26', 'the eleventh element' or '29 protons', over
    'copper is twenty-nine' (a number after 'is', ending the statement); the first of the surest. 'The number
    one prize' is an idiom, not a number ('the number one element' is one).
    """
    candidates = _candidates(text, element)
    return min(candidates)[2] if candidates else None


def check_answer(question: str, answer: str) -> dict[str, bool | None]:
    """Elle's checks of one answer: limerick form, the element named, its symbol and atomic number.

    The element checked is the one the question asks about (the last one it names). A fact the answer
    does not state is None (not stated), never False.
    """
    element = element_in(question)
    if element is None:
        return {"limerick_form": is_limerick(answer), "element_named": None, "symbol_right": None, "number_right": None}
    symbol = stated_symbol(answer, element)
    number = stated_number(answer, element)
    return {
        "limerick_form": is_limerick(answer),
        "element_named": any(re.search(rf"\b{name}\b", answer, re.IGNORECASE) for name in element.names),
        "symbol_right": None if symbol is None else symbol == element.symbol,
        "number_right": None if number is None else number == element.number,
    }
