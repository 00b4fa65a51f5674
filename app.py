"""Tuning Studio: the router. Every screen lives in pages/, every piece of logic in lib/."""

import streamlit as st

from lib.ui.access import network_notice, signed_in_person
from lib.ui.provider import provider_sidebar
from lib.ui.store_view import store_caption, use_configured_store

st.set_page_config(page_title="Tuning Studio", page_icon=":material/science:", layout="wide")


def page(file: str, title: str, icon: str, default: bool = False) -> st.Page:
    return st.Page(f"pages/{file}.py", title=title, icon=f":material/{icon}:", url_path=file, default=default)


store = use_configured_store()
person = signed_in_person()
rate = page("rate", "Rate", "how_to_vote")
if person is not None and person.role == "reviewer":
    navigation = st.navigation([rate])  # reviewers rate the runs shared with them, nothing else
else:
    navigation = st.navigation(
        {
            "Curate": [
                page("datasets", "Datasets", "folder_open", default=True),
                page("examples", "Examples", "table_edit"),
                page("conversation", "Conversation", "forum"),
                page("history", "History", "history"),
                page("knowledge", "Knowledge", "menu_book"),
            ],
            "Price": [page("costs", "Tokens and cost", "payments")],
            "Train": [page("train", "Train", "rocket_launch"), page("jobs", "Jobs", "monitoring")],
            "Judge": [
                page("compare", "Compare", "compare"),
                page("evaluate", "Evaluate", "science"),
                rate,
                page("scorecard", "Scorecard", "leaderboard"),
            ],
        }
    )
    provider_sidebar()
store_caption(store)
network_notice()
if person is not None:
    st.sidebar.caption(f":material/person: {person.name} · {person.role}")
    st.sidebar.button("Sign out", on_click=st.logout, icon=":material/logout:")
navigation.run()
