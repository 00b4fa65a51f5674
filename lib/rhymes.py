"""Rhymes by sound: the CMU pronouncing dictionary (offline, from the ``pronouncing`` package).

Two words rhyme when their phones match from the last primary-stressed vowel to the end, stress
digits ignored (height/white, word/bird, thirty/dirty; not cough/though, love/move, bead/dead).
Only a word the dictionary lacks falls back to a spelling rule.
"""

from __future__ import annotations

import re
from functools import cache

import pronouncing

LIMERICK = "AABBA"  # a rhyme scheme: lines with the same letter end on rhymes
SCHEMES = (LIMERICK,)  # the schemes the local server can decode to (lib.local.rhyme_guide)
_VOWEL = re.compile(r"[A-Z]+[012]$")
# Endings spelled alike that sound alike, for words the dictionary lacks (fallback only).
_SPELLING_ENDINGS = 3


def _last_word(line: str) -> str:
    words = re.findall(r"[a-z']+", line.lower())
    return words[-1].strip("'") if words else ""


def _rhyming_part(phones: str) -> str:
    """The phones from the last primary-stressed vowel (else the last stressed, else the last vowel) on."""
    parts = phones.split()
    for stress in ("1", "2", "0"):
        found = [i for i, p in enumerate(parts) if _VOWEL.match(p) and p.endswith(stress)]
        if found:
            return " ".join(re.sub(r"\d", "", p) for p in parts[found[-1] :])
    return " ".join(parts)


@cache
def rhyming_parts(word: str) -> frozenset[str]:
    """Every way the end of ``word`` can sound (several pronunciations are kept); empty if unknown."""
    return frozenset(_rhyming_part(phones) for phones in pronouncing.phones_for_word(word))


def _singular(sounds: frozenset[str]) -> frozenset[str]:
    """A plural's ending rhymes with its singular's (all/calls): a final S or Z after a consonant is dropped."""
    return sounds | {s[:-2] for s in sounds if s.endswith((" S", " Z")) and len(s.split()) > 2}


def words_rhyme(a: str, b: str) -> bool:
    """Whether two words rhyme by sound; by spelling only when the dictionary lacks one of them."""
    if not a or not b:
        return False
    if a == b:
        return True
    sounds_a, sounds_b = rhyming_parts(a), rhyming_parts(b)
    if sounds_a and sounds_b:
        return bool(_singular(sounds_a) & _singular(sounds_b))
    return len(a) >= _SPELLING_ENDINGS and len(b) >= _SPELLING_ENDINGS and a[-3:] == b[-3:]


def rhymes(first_line: str, second_line: str) -> bool:
    """Whether two lines end on rhyming words."""
    return words_rhyme(_last_word(first_line), _last_word(second_line))


def is_limerick(text: str) -> bool:
    """Five lines, rhyming AABBA."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) != 5:
        return False
    one, two, three, four, five = lines
    return rhymes(one, two) and rhymes(one, five) and rhymes(three, four)
