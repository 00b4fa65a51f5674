"""The only Streamlit-aware helpers: shared widgets and cached views of the store."""
