"""Which store the app uses (STUDIO_DATABASE_URL from the environment or st.secrets, else SQLite), in the sidebar."""

from __future__ import annotations

import streamlit as st

from lib import settings
from lib.db import connection
from lib.db.connection import StoreError


def use_configured_store() -> connection.Store:
    """Take the database URL from secrets when the environment has none; stop with a plain message if it cannot
    be opened (a wrong host or password must not look like an empty studio)."""
    if not settings.database_url():
        try:
            configured = st.secrets.get(connection.URL_VARIABLE)
        except Exception:  # no secrets.toml
            configured = None
        if configured:
            settings.use_database_url(str(configured))
    try:
        store = connection.describe()
        connection.engine()
    except StoreError as error:
        st.error(str(error), icon=":material/database:")
        st.caption(f"Check {connection.URL_VARIABLE} in the environment or in .streamlit/secrets.toml.")
        st.stop()
    return store


def store_caption(store: connection.Store) -> None:
    shared = " · shared by everyone who uses this URL" if store.engine == "PostgreSQL" else ""
    st.sidebar.caption(f":material/database: Store: **{store.engine}** ({store.where}){shared}")
