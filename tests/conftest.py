from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own empty data directory and empty Streamlit caches."""
    path = tmp_path / "studio-data"
    monkeypatch.setenv("STUDIO_DATA_DIR", str(path))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield path
