"""Where the app keeps its files: one env var, STUDIO_DATA_DIR, default ./data."""

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
SAMPLE_DIR = PROJECT_DIR / "data"


def data_dir() -> Path:
    """The directory holding the database and run-time files; created on first use."""
    path = Path(os.environ.get("STUDIO_DATA_DIR") or SAMPLE_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path
