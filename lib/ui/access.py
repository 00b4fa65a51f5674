"""Sign-in (st.login, OIDC) when secrets.toml has an [auth] table, and the role the allow-list gives each person."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from lib.access import AllowList, Role, allow_list, may_rate, role_of


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    role: Role


def _secrets() -> Mapping[str, Any]:
    try:
        return dict(st.secrets)
    except Exception:  # no secrets.toml, or an unreadable one
        return {}


def sign_in_configured() -> bool:
    return "auth" in _secrets()


def allowed() -> AllowList:
    return allow_list(_secrets())


LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def network_notice() -> None:
    """In the sidebar, when the app listens on more than this machine: who can reach it, and what protects it.

    ``make run`` listens on 127.0.0.1; only an explicit address (``make run HOST=0.0.0.0``) opens it. Community
    Cloud sets no address here (it puts its own sign-in in front), so nothing is said there.
    """
    address = st.get_option("server.address")
    if not address or str(address).lower() in LOOPBACK:
        return
    if sign_in_configured():
        st.sidebar.caption(f":material/lan: Open to the network on {address}: sign-in and the allow-list guard it.")
        return
    st.sidebar.warning(
        f"Open to the network on {address}: anyone who can reach this machine can read and edit every dataset "
        "and rating and start jobs, without signing in. Set up sign-in and an allow-list (README, "
        '"Open it to a team"), or run `make run` without HOST to keep it on this machine.',
        icon=":material/lan:",
    )


def signed_in_person() -> Person | None:
    """Who is using the app: None when sign-in is not configured (everyone may do everything, as before).

    When it is configured, this asks whoever is not signed in to sign in, and stops those not on the allow-list.
    """
    if not sign_in_configured():
        return None
    if not st.user.get("is_logged_in"):
        st.title("Tuning Studio")
        st.write("This studio is shared with a team: sign in to curate or to rate.")
        if st.button("Sign in", type="primary", icon=":material/login:"):
            st.login()
        st.stop()
    email = str(st.user.get("email") or "")
    name = str(st.user.get("name") or email)
    role = role_of(email, allowed())
    if role is None:
        st.title("Tuning Studio")
        st.error(f"{email or name} is not on this studio's list of curators or reviewers: ask its owner to add you.")
        if st.button("Sign out", icon=":material/logout:"):
            st.logout()
        st.stop()
    return Person(name, email, role)


def rateable(person: Person | None, shared_with: tuple[str, ...]) -> bool:
    return person is None or may_rate(person.role, person.email, shared_with)
