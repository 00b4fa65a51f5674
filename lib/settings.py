"""The one place the app reads its environment: where it keeps its files, which database, where the local
server answers and with which key, and the providers' keys. Tests point STUDIO_DATA_DIR at a temporary folder.

The local server (lib/local) is a process of its own and reads STUDIO_DATA_DIR itself (lib/local/config.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
SAMPLE_DIR = PROJECT_DIR / "data"

DATA_DIR_VARIABLE = "STUDIO_DATA_DIR"  # default: ./data
DATABASE_URL_VARIABLE = "STUDIO_DATABASE_URL"  # default: SQLite in the data dir
LOCAL_URL_VARIABLE = "STUDIO_LOCAL_URL"  # default: http://127.0.0.1:8765/v1
LOCAL_KEY_VARIABLE = "STUDIO_LOCAL_API_KEY"  # default: a key kept in the data dir
LOCAL_AUTOSTART_VARIABLE = "STUDIO_LOCAL_AUTOSTART"  # "0": the app never starts the local server
TIKTOKEN_CACHE_VARIABLE = "TIKTOKEN_CACHE_DIR"  # tiktoken's own: where its encodings are kept


def data_dir() -> Path:
    """The directory holding the database and run-time files; created on first use."""
    path = Path(os.environ.get(DATA_DIR_VARIABLE) or SAMPLE_DIR)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)  # made here: for this user only
    return path


def database_url() -> str:
    """STUDIO_DATABASE_URL as set ("" when it is not)."""
    return os.environ.get(DATABASE_URL_VARIABLE, "").strip()


def use_database_url(url: str) -> None:
    """Make ``url`` (from st.secrets) the database for this process, as if it had been in the environment."""
    os.environ[DATABASE_URL_VARIABLE] = url


def local_url(default: str) -> str:
    return os.environ.get(LOCAL_URL_VARIABLE, default)


def local_key() -> str | None:
    return os.environ.get(LOCAL_KEY_VARIABLE) or None


def local_autostart() -> bool:
    return os.environ.get(LOCAL_AUTOSTART_VARIABLE, "1") != "0"


def environment() -> Mapping[str, str]:
    """The whole environment: providers read their keys from it (lib/train/providers.py names them)."""
    return os.environ


def tiktoken_cache(default: Path) -> Path:
    """tiktoken's cache folder: TIKTOKEN_CACHE_DIR, set to ``default`` when it is not."""
    os.environ.setdefault(TIKTOKEN_CACHE_VARIABLE, str(default))
    return Path(os.environ[TIKTOKEN_CACHE_VARIABLE])
