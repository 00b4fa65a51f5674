"""Tuning Studio's plain-Python core: datasets, validation, storage. No Streamlit here (see lib/ui)."""
