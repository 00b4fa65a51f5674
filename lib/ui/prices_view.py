"""The Prices tab of Tokens and cost: the listed prices per model, each cell editable to use one's own."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from lib.errors import StudioError
from lib.price import overrides, pricing
from lib.price.pricing import ModelInfo
from lib.ui.widgets import flash


def price_editor(listed: Mapping[str, ModelInfo]) -> None:
    """Every model's prices (USD per 1M tokens); an edited cell is saved as the user's own price at once."""
    st.caption(f"USD per 1M tokens. Listed: {pricing.price_list_source()}. Edit a cell to use your own price.")
    price_rows = pricing.price_table(listed)
    st.session_state.setdefault("costs_prices_generation", 0)
    edited = st.data_editor(
        pd.DataFrame(price_rows),
        key=f"costs_prices_{st.session_state.costs_prices_generation}",
        hide_index=True,
        disabled=["model"],
        column_config={
            "model": "Model",
            "training": st.column_config.NumberColumn("Training", format="$%.2f", min_value=0),
            "tuned_input": st.column_config.NumberColumn("Tuned input", format="$%.2f", min_value=0),
            "tuned_output": st.column_config.NumberColumn("Tuned output", format="$%.2f", min_value=0),
            "base_input": st.column_config.NumberColumn("Base input", format="$%.2f", min_value=0),
            "base_output": st.column_config.NumberColumn("Base output", format="$%.2f", min_value=0),
        },
    )
    changes = pricing.changed_prices(price_rows, edited.to_dict("records"))
    reset = st.button("Back to the listed prices", icon=":material/restart_alt:")
    if changes or reset:
        try:
            for name, field, value in changes:
                overrides.set_price_override(name, field, pricing.override_value(name, field, value))
            if reset:
                overrides.clear_price_overrides()
            flash("Prices saved." if changes else "Listed prices restored.")
        except StudioError as error:
            flash(str(error))
        st.session_state.costs_prices_generation += 1
        st.rerun()
