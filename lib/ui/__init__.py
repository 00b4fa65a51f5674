"""The only Streamlit-aware helpers: shared widgets and cached views of the store."""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

# app.py's st.navigation is the app's only navigation. Streamlit starts a process assuming the older
# pages/ folder navigation until app.py has run once, so a page opened before that (a deep link, or a
# click while the first run loads) ran alone: lowercase page names, no provider, no dataset. Every page
# imports lib.ui, so turn that mode off here and run again through app.py.
if PagesManager.uses_pages_directory:
    PagesManager.uses_pages_directory = False
    if get_script_run_ctx() is not None:
        st.rerun()
