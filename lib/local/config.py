"""The local server's settings: where it keeps its things, how it listens, which base models it offers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
