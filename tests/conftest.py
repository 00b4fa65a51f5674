from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own empty data directory, empty Streamlit caches and no local server unless it starts one."""
    path = tmp_path / "studio-data"
    monkeypatch.setenv("STUDIO_DATA_DIR", str(path))
    monkeypatch.setenv("STUDIO_LOCAL_AUTOSTART", "0")  # a test starts a local server only on purpose
    monkeypatch.setenv("STUDIO_LOCAL_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    st.cache_data.clear()
    st.cache_resource.clear()
    yield path
