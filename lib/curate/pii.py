"""Personal data in text, found offline with few false positives: every number is checked, not only shaped.

E-mail addresses; phone numbers (Google's libphonenumber rules, international or North American);
payment card numbers (a known card prefix and the Luhn checksum); IBANs (the ISO 7064 checksum);
national id numbers (US social security numbers, UK National Insurance numbers, Indian Aadhaar with
its Verhoeff checksum); IP addresses (IPv4 and IPv6, parsed). Version numbers, product codes and
numbers that fail their checksum are left alone.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import phonenumbers
from stdnum import iban, luhn
from stdnum.in_ import aadhaar
from stdnum.us import ssn

PLACEHOLDERS = {
    "email": "[email]",
    "phone": "[phone]",
    "card": "[card number]",
    "iban": "[IBAN]",
    "national_id": "[national id]",
    "ip": "[IP address]",
}
LABELS = {
    "email": "e-mail address",
    "phone": "phone number",
    "card": "payment card number",
    "iban": "IBAN",
    "national_id": "national id number",
    "ip": "IP address",
}

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\w.-])(?:\d[ -]?){12,18}\d(?![\w-])")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|6(?:011|5)|35)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_SSN = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
_NINO = re.compile(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")
_AADHAAR = re.compile(r"(?<![\w-])[2-9]\d{3} \d{4} \d{4}(?![\w-])")
_IPV4 = re.compile(r"(?<![\w.])(?<!v)(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_VERSION_WORDS = re.compile(r"\b(?:version|release|v)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Match:
    kind: str  # a key of PLACEHOLDERS
    start: int
    end: int
    text: str


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _ip(text: str, match: re.Match[str]) -> bool:
    if _VERSION_WORDS.search(text[: match.start()]):
        return False
    try:
        address = ipaddress.ip_address(match.group())
    except ValueError:  # a time (12:30:45), a ratio, a version with a fifth part
        return False
    return not (address.is_unspecified or address.is_loopback)


def find(text: str) -> list[Match]:
    """Every piece of personal data in ``text``, in order, none overlapping."""
    found: list[Match] = []
    if "@" in text:
        found += [Match("email", m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)]
    if sum(c.isdigit() for c in text) < 4 and ":" not in text:  # nothing else can be there: the common case
        return found
    found += [Match("iban", m.start(), m.end(), m.group()) for m in _IBAN.finditer(text) if iban.is_valid(m.group())]
    for m in _CARD.finditer(text):
        digits = _digits(m.group())
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn.is_valid(digits):
            found.append(Match("card", m.start(), m.end(), m.group()))
    ids = [m for m in _SSN.finditer(text) if ssn.is_valid(m.group())]
    ids += list(_NINO.finditer(text))
    ids += [m for m in _AADHAAR.finditer(text) if aadhaar.is_valid(m.group())]
    found += [Match("national_id", m.start(), m.end(), m.group()) for m in ids]
    found += [Match("ip", m.start(), m.end(), m.group()) for m in (*_IPV4.finditer(text), *_IPV6.finditer(text))
              if _ip(text, m)]  # fmt: skip
    for number in phonenumbers.PhoneNumberMatcher(text, "US", leniency=phonenumbers.Leniency.VALID):
        found.append(Match("phone", number.start, number.end, number.raw_string))
    return _without_overlaps(found)


def _without_overlaps(found: list[Match]) -> list[Match]:
    """The first-found kind wins where two overlap (a card number is not also a phone number)."""
    kept: list[Match] = []
    for match in found:
        if all(match.end <= other.start or match.start >= other.end for other in kept):
            kept.append(match)
    return sorted(kept, key=lambda m: m.start)


def redact(text: str) -> str:
    """``text`` with each piece of personal data replaced by a placeholder naming its kind."""
    for match in reversed(find(text)):
        text = text[: match.start] + PLACEHOLDERS[match.kind] + text[match.end :]
    return text
