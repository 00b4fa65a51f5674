"""Tuning Studio: the router. Every screen lives in pages/, every piece of logic in lib/."""

import streamlit as st

from lib.ui.provider import provider_sidebar

st.set_page_config(page_title="Tuning Studio", page_icon=":material/science:", layout="wide")

navigation = st.navigation(
    {
        "Curate": [
            st.Page(
                "pages/datasets.py", title="Datasets", icon=":material/folder_open:", url_path="datasets", default=True
            ),
            st.Page("pages/examples.py", title="Examples", icon=":material/table_edit:", url_path="examples"),
            st.Page("pages/conversation.py", title="Conversation", icon=":material/forum:", url_path="conversation"),
            st.Page("pages/history.py", title="History", icon=":material/history:", url_path="history"),
            st.Page("pages/knowledge.py", title="Knowledge", icon=":material/menu_book:", url_path="knowledge"),
        ],
        "Price": [
            st.Page("pages/costs.py", title="Tokens and cost", icon=":material/payments:", url_path="costs"),
        ],
        "Train": [
            st.Page("pages/train.py", title="Train", icon=":material/rocket_launch:", url_path="train"),
            st.Page("pages/jobs.py", title="Jobs", icon=":material/monitoring:", url_path="jobs"),
        ],
        "Judge": [
            st.Page("pages/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
            st.Page("pages/evaluate.py", title="Evaluate", icon=":material/science:", url_path="evaluate"),
            st.Page("pages/rate.py", title="Rate", icon=":material/how_to_vote:", url_path="rate"),
            st.Page("pages/scorecard.py", title="Scorecard", icon=":material/leaderboard:", url_path="scorecard"),
        ],
    }
)
provider_sidebar()
navigation.run()
