"""The local server's settings: where it keeps its things, how it listens, which base models it offers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
ORGANIZATION = "local"  # the organisation part of tuned model names: ft:{base}:local:{suffix}:{id}


@dataclass
class ServerSettings:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8765
    api_key: str | None = None
    base_models: dict[str, str] = field(default_factory=dict)  # id -> "module:function" preparing it
    start_worker: bool = True
    llama_child: list[str] | None = None  # the command that runs llama.cpp (tests give one that dies)
    max_upload_bytes: int = 256 * 2**20  # OpenAI allows 512 MB; a laptop's server need not hold that much
    train_processes: int = 1  # data-parallel training processes per job (ranks.py)
    public_hosts: tuple[str, ...] = ()  # names it is reached by beside its address (a GPU box behind a proxy)

    @property
    def store_path(self) -> Path:
        return self.data_dir / "local.db"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def adapters_dir(self) -> Path:
        return self.data_dir / "adapters"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"


def studio_data_dir() -> Path:
    """STUDIO_DATA_DIR, as the app reads it (lib/settings.py): the server is a process of its own, importing
    nothing of the app but lib.openai_format, so it reads its one variable itself."""
    return Path(os.environ.get("STUDIO_DATA_DIR") or PROJECT_DIR / "data")
