"""Run the local server for a test: real uvicorn on a free 127.0.0.1 port, the tiny model, its own data dir."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from lib.local.config import ServerSettings
from lib.local.server import create_app
from tests.tiny_model import TINY


def tiny_settings(data_dir: Path, **overrides: object) -> ServerSettings:
    settings = ServerSettings(data_dir, base_models={TINY: "tests.tiny_model:prepare"})
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(settings: ServerSettings) -> Iterator[str]:
    """Serve ``settings`` until the block ends; yields the base URL for the openai SDK."""
    settings.port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("the local server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{settings.port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
