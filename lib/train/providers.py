"""Providers: which fine-tuning API the app talks to, its client, and what its errors mean to a user.

Keys live only in memory: in a ProviderConfig built from the environment, ``st.secrets`` or what the
user typed for the session. Nothing here writes them anywhere, and no message ever contains one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2
import openai

from lib import settings
from lib.errors import StudioError
from lib.price import pricing
from lib.train import local_client

ProviderKind = Literal["local", "openai", "azure", "compatible"]
KINDS: tuple[ProviderKind, ...] = ("local", "openai", "azure", "compatible")
LABELS: dict[ProviderKind, str] = {"local": "Local (this machine)", "openai": "OpenAI", "azure": "Azure OpenAI",
                                   "compatible": "OpenAI-compatible server"}  # fmt: skip
NAMES: dict[ProviderKind, str] = {"local": "The local server", "openai": "OpenAI", "azure": "Azure OpenAI",
                                  "compatible": "The OpenAI-compatible server"}  # fmt: skip
DEFAULT_AZURE_API_VERSION = "2025-04-01-preview"
TIMEOUT_SECONDS = 60.0
# Environment variables (and st.secrets keys) the SDK itself reads.
ENVIRONMENT: dict[str, str] = {
    "openai_key": "OPENAI_API_KEY",
    "azure_key": "AZURE_OPENAI_API_KEY",
    "azure_endpoint": "AZURE_OPENAI_ENDPOINT",
    "azure_api_version": "OPENAI_API_VERSION",
    "azure_deployment": "AZURE_OPENAI_DEPLOYMENT",
    "compatible_url": "STUDIO_COMPATIBLE_URL",  # vLLM, Ollama, LM Studio, llama.cpp, a remote Tuning Studio server
    "compatible_key": "STUDIO_COMPATIBLE_API_KEY",
}


class ProviderError(StudioError):
    """A provider call failed; the message says what happened and what to do."""


@dataclass(frozen=True)
class ProviderConfig:
    kind: ProviderKind = "local"
    api_key: str = field(default="", repr=False)
    key_source: str = ""  # "environment", "secrets", "typed" (this session only) or ""
    endpoint: str = ""  # Azure: https://NAME.openai.azure.com; an OpenAI-compatible server: its base URL (…/v1)
    api_version: str = ""  # Azure
    deployment: str = ""  # Azure: the deployment that serves a tuned model

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    @property
    def name(self) -> str:
        return NAMES[self.kind]

    @property
    def fingerprint(self) -> str:
        """Tells configurations apart without holding the key (for caches and session state)."""
        key_hash = hashlib.sha256(self.api_key.encode()).hexdigest()[:16]
        return f"{self.kind}|{self.endpoint}|{self.api_version}|{key_hash}|{local_client.base_url()}"

    def missing(self) -> list[str]:
        """What must still be given before this provider can be called."""
        if self.kind == "local":
            return []
        if self.kind == "compatible":  # a key only where the server asks for one
            return [] if self.endpoint.strip() else ["base URL"]
        needed = {"API key": self.api_key}
        if self.kind == "azure":
            needed |= {"endpoint": self.endpoint, "API version": self.api_version}
        return [what for what, value in needed.items() if not value.strip()]


def mask(key: str) -> str:
    """A key as it may be shown: its first 3 and last 4 characters."""
    if not key:
        return "not set"
    if len(key) <= 10:
        return "•" * len(key)
    return f"{key[:3]}…{key[-4:]}"


def from_settings(
    kind: ProviderKind, typed: Mapping[str, str], secrets: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> ProviderConfig:
    """The configuration for ``kind``: typed values win, then st.secrets, then the environment."""
    environ = settings.environment() if environ is None else environ

    def pick(name: str) -> tuple[str, str]:
        variable = ENVIRONMENT[name]
        for source, value in (
            ("typed", typed.get(name)),
            ("secrets", secrets.get(variable)),
            ("environment", environ.get(variable)),
        ):
            if value and str(value).strip():
                return str(value).strip(), source
        return "", ""

    if kind == "openai":
        key, source = pick("openai_key")
        return ProviderConfig("openai", key, source)
    if kind == "azure":
        key, source = pick("azure_key")
        return ProviderConfig(
            "azure",
            key,
            source,
            endpoint=pick("azure_endpoint")[0],
            api_version=pick("azure_api_version")[0] or DEFAULT_AZURE_API_VERSION,
            deployment=pick("azure_deployment")[0],
        )
    if kind == "compatible":
        key, source = pick("compatible_key")
        return ProviderConfig("compatible", key, source, endpoint=pick("compatible_url")[0].rstrip("/"))
    return ProviderConfig("local")


def make_client(
    config: ProviderConfig,
    http_client: httpx2.Client | None = None,
    timeout: float = TIMEOUT_SECONDS,
    max_retries: int = openai.DEFAULT_MAX_RETRIES,
) -> openai.OpenAI:
    """The SDK client for a provider (the SDK's own retries with backoff kept)."""
    if missing := config.missing():
        raise ProviderError(f"{config.label} needs its {' and '.join(missing)}: give {_them(missing)} in the sidebar.")
    if config.kind == "azure":
        return openai.AzureOpenAI(
            azure_endpoint=config.endpoint,
            api_key=config.api_key,
            api_version=config.api_version,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client,
        )
    if config.kind == "openai":
        return openai.OpenAI(api_key=config.api_key, timeout=timeout, max_retries=max_retries, http_client=http_client)
    if config.kind == "compatible":
        return openai.OpenAI(base_url=config.endpoint, api_key=config.api_key or "none", timeout=timeout,
                             max_retries=max_retries, http_client=http_client)  # fmt: skip
    return local_client.client(timeout, max_retries, http_client)


def _them(things: list[str]) -> str:
    return "it" if len(things) == 1 else "them"


def explain(error: openai.OpenAIError, config: ProviderConfig) -> ProviderError:
    """One clear sentence for a failed call: what happened and what to do."""
    name = config.name
    if isinstance(error, openai.APITimeoutError):
        return ProviderError(f"{name} did not answer in time. Try again; if it keeps happening, check your network.")
    if isinstance(error, openai.APIConnectionError):
        if config.kind == "local":
            return ProviderError(
                f"The local server does not answer at {local_client.base_url()}. "
                "The sidebar says whether it is starting; if it stopped, start it there."
            )
        where = config.endpoint or "api.openai.com"
        return ProviderError(f"Could not reach {name} at {where}. Check your internet connection and the endpoint.")
    if isinstance(error, openai.AuthenticationError):
        return ProviderError(f"{name} refused the API key (401). Check the key in the sidebar and try again.")
    if isinstance(error, openai.PermissionDeniedError):
        return ProviderError(f"{name} says this key may not do that (403): {_message(error)}")
    if isinstance(error, openai.RateLimitError):
        if _code(error) == "insufficient_quota":
            return ProviderError(f"{name} says the account is out of credit (429). Add credit, then try again.")
        return ProviderError(f"{name} is rate-limiting this key (429) after retrying. Wait a minute and try again.")
    if isinstance(error, openai.NotFoundError):
        return ProviderError(f"{name} could not find it (404): {_message(error)}")
    if isinstance(error, openai.APIStatusError) and error.status_code >= 500:
        return ProviderError(
            f"{name} had a server error ({error.status_code}) and it persisted after retrying. "
            "Nothing was lost; try again in a few minutes."
        )
    if isinstance(error, openai.APIStatusError):
        return ProviderError(f"{name} rejected the request ({error.status_code}): {_message(error)}")
    return ProviderError(f"{name} failed: {error}")


def _body(error: openai.OpenAIError) -> dict[str, Any]:
    body = getattr(error, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return body if isinstance(body, dict) else {}


def _message(error: openai.OpenAIError) -> str:
    return str(_body(error).get("message") or getattr(error, "message", "") or error)


def _code(error: openai.OpenAIError) -> str:
    return str(_body(error).get("code") or "")


@contextmanager
def calling(config: ProviderConfig) -> Iterator[None]:
    """Turn the SDK's errors inside the block into a ProviderError with a clear message."""
    try:
        yield
    except openai.OpenAIError as error:
        raise explain(error, config) from error


def check_connection(client: openai.OpenAI, config: ProviderConfig) -> str:
    """Call the provider once; say what answered (raises ProviderError otherwise)."""
    with calling(config):
        models = client.models.list()
    return f"{config.name} answers: {len(models.data)} models available."


def base_models(client: openai.OpenAI, config: ProviderConfig) -> list[str]:
    """The base models this provider can fine-tune."""
    if config.kind not in ("local", "compatible"):
        return list(pricing.models())  # OpenAI's and Azure's fine-tunable snapshots
    with calling(config):
        models = client.models.list()
    return sorted(model.id for model in models.data if not model.id.startswith("ft:"))


def serves_fine_tuning(client: openai.OpenAI, config: ProviderConfig) -> bool:
    """Whether the provider offers /v1/fine_tuning/jobs (an OpenAI-compatible server may only answer chats)."""
    if config.kind != "compatible":
        return True
    try:
        client.fine_tuning.jobs.list(limit=1)
    except (openai.NotFoundError, openai.BadRequestError, openai.UnprocessableEntityError):
        return False
    except openai.APIStatusError as error:
        if error.status_code in (404, 405, 501):
            return False
        raise explain(error, config) from error
    except openai.OpenAIError as error:
        raise explain(error, config) from error
    return True


def chat_models(client: openai.OpenAI, config: ProviderConfig) -> list[str]:
    """Models that can answer chat prompts: base models first, then tuned ones and their checkpoints."""
    with calling(config):
        ids = [model.id for model in client.models.list().data]
    if config.kind == "openai":
        ids = [i for i in ids if i.startswith(("gpt-", "ft:"))]
    if config.kind == "azure" and config.deployment:
        ids = [config.deployment, *ids]  # Azure answers by deployment name
    return sorted(dict.fromkeys(ids), key=lambda i: (i.startswith("ft:"), ":ckpt-step-" in i, i))
