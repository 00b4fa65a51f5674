import os
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import streamlit as st

from lib.db import connection
from tests import postgres
from tests.local_server import running_server, tiny_settings


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store", choices=("sqlite", "postgresql"), default="sqlite",
        help="the database every test uses (the store tests run on both either way)",
    )  # fmt: skip


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[postgres.Cluster]:
    """A throwaway PostgreSQL server for the session; skipped where PostgreSQL is not installed, but never in CI."""
    if postgres.binaries() is None:
        message = (
            "PostgreSQL is not installed: the PostgreSQL half of the store tests is skipped (`make test` installs it)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    cluster = postgres.Cluster()
    yield cluster
    connection.forget_engines()
    cluster.stop()


@pytest.fixture(autouse=True)
def main_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """Restore ``__main__`` after each test: AppTest runs its script as ``__main__``, and a training worker
    started later by a spawn would otherwise run that script again first (and die on one made from a function)."""
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Path]:
    """Every test gets its own empty data directory and store, empty Streamlit caches and no local server unless it
    starts one."""
    path = tmp_path / "studio-data"
    monkeypatch.setenv("STUDIO_DATA_DIR", str(path))
    monkeypatch.setenv("STUDIO_LOCAL_AUTOSTART", "0")  # a test starts a local server only on purpose
    monkeypatch.setenv("STUDIO_LOCAL_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    monkeypatch.delenv(connection.URL_VARIABLE, raising=False)
    if request.config.getoption("--store") == "postgresql":
        cluster: postgres.Cluster = request.getfixturevalue("postgres_cluster")
        monkeypatch.setenv(connection.URL_VARIABLE, cluster.database())
    st.cache_data.clear()
    st.cache_resource.clear()
    yield path
    connection.forget_engines()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> str:
    """Runs a test once on SQLite and once on a fresh PostgreSQL database."""
    if request.param == "postgresql":
        cluster: postgres.Cluster = request.getfixturevalue("postgres_cluster")
        monkeypatch.setenv(connection.URL_VARIABLE, cluster.database())
    else:
        monkeypatch.delenv(connection.URL_VARIABLE, raising=False)
    return str(request.param)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The local server with the tiny test model and no training worker, one per test module (a module can
    define its own, e.g. with a worker)."""
    with running_server(tiny_settings(tmp_path_factory.mktemp("local"), start_worker=False)) as url:
        yield url


@pytest.fixture
def local(server_url: str, monkeypatch: pytest.MonkeyPatch) -> openai.OpenAI:
    """The app's local provider is that server; a client to look at it directly."""
    monkeypatch.setenv("STUDIO_LOCAL_URL", server_url)
    return openai.OpenAI(base_url=server_url, api_key="local", max_retries=0)
