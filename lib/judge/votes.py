"""A model's votes on a run's pairs: each pair judged in both orders, kept apart from people's ratings."""

from __future__ import annotations

from dataclasses import dataclass, field

from lib.judge.run import TIE, Rating


@dataclass(frozen=True)
class Judge:
    run_id: int
    name: str  # shown as a reviewer of kind judge, e.g. "judge: gpt-4o-mini"
    model: str
    provider: str
    prompt: str  # the template it was sent (editable per run)
    calibration: tuple[int, ...] = ()  # positions whose people's choices were shown to it as examples
    created_at: str = ""


@dataclass(frozen=True)
class JudgeVote:
    run_id: int
    judge: str
    position: int
    left: str
    right: str
    first_choice: str | None  # "A", "B", "tie" or None (no vote): ``left`` shown as A
    second_choice: str | None  # the same pair with the sides swapped: ``right`` shown as A
    winner: str | None  # a contender, TIE (also when the choice flips with the order), or None: no vote
    criteria: dict[str, str] = field(default_factory=dict)  # criterion -> contender or TIE, where both orders agree
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0

    @property
    def flipped(self) -> bool:
        """Both orders decided, for different contenders: the choice followed the position, not the answer."""
        first = {"A": self.left, "B": self.right}.get(self.first_choice or "")
        second = {"A": self.right, "B": self.left}.get(self.second_choice or "")
        return first is not None and second is not None and first != second


def as_ratings(votes: list[JudgeVote]) -> list[Rating]:
    """The votes that decided something, as ratings by the judge (a no-vote is no rating)."""
    return [
        Rating(v.run_id, v.judge, v.position, v.left, v.right, v.winner, {}, "judge")
        for v in votes
        if v.winner is not None
    ]


def combine(left: str, right: str, first: str | None, second: str | None) -> str | None:
    """The judge's vote on a pair from its choices in both orders: the contender chosen both times, a tie when the
    choice flips with the order (or either order says tie), None when either reply had no vote."""
    if first is None or second is None:
        return None
    chosen_first = {"A": left, "B": right}.get(first, TIE)
    chosen_second = {"A": right, "B": left}.get(second, TIE)
    return chosen_first if chosen_first == chosen_second else TIE
