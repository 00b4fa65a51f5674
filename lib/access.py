"""Who may do what when sign-in is configured: curators use every screen, reviewers only Rate, and only the runs
shared with them. Without sign-in, or without an allow-list, everyone is a curator, as before."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["curator", "reviewer"]


@dataclass(frozen=True)
class AllowList:
    curators: frozenset[str]
    reviewers: frozenset[str]

    @property
    def empty(self) -> bool:
        return not self.curators and not self.reviewers


def _emails(values: object) -> frozenset[str]:
    if isinstance(values, str):
        values = values.split(",")
    return (
        frozenset(str(v).strip().lower() for v in values or [] if str(v).strip())
        if isinstance(values, Iterable)
        else frozenset()
    )


def allow_list(secrets: Mapping[str, Any]) -> AllowList:
    """The ``[access]`` table of secrets.toml: ``curators = [...]`` and ``reviewers = [...]`` (e-mails)."""
    table = secrets.get("access") or {}
    return AllowList(_emails(table.get("curators")), _emails(table.get("reviewers")))


def role_of(email: str, allowed: AllowList) -> Role | None:
    """A signed-in person's role; None: not on the list (with an empty list, everyone signed in is a curator)."""
    email = email.strip().lower()
    if allowed.empty or email in allowed.curators:
        return "curator"
    if email in allowed.reviewers:
        return "reviewer"
    return None


def may_rate(role: Role | None, email: str, shared_with: Iterable[str]) -> bool:
    """Curators may rate every run; a reviewer only those shared with them."""
    return role == "curator" or (role == "reviewer" and email.strip().lower() in set(shared_with))
