"""Answer-check packs: automatic checks chosen per evaluation run, shown beside reviewers' ratings.

A pack names its checks and judges one answer to one question; each check is True, False, or None
when the answer does not state what the check looks for. Elle's limerick and element pack is one;
a run without a pack simply has no automatic checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lib.judge import elle_checks

CheckResults = dict[str, bool | None]


@dataclass(frozen=True)
class CheckPack:
    name: str  # stored with a run
    title: str  # shown to users
    checks: dict[str, str]  # check key -> what it checks, in words
    run: Callable[[str, str], CheckResults]  # (question, answer) -> results by check key


ELLE = CheckPack(
    "elle",
    "Elle: limerick form and element facts",
    {
        "limerick_form": "five lines rhyming AABBA (by sound)",
        "element_named": "names the element asked about",
        "symbol_right": "symbol right",
        "number_right": "atomic number right",
    },
    elle_checks.check_answer,
)
PACKS: dict[str, CheckPack] = {ELLE.name: ELLE}


def pack(name: str | None) -> CheckPack | None:
    """The pack a run chose (None: no automatic checks, or a pack this version does not know)."""
    return PACKS.get(name or "")
