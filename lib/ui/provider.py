"""The sidebar's provider chooser and status; starts the local server when it is not running (once per app process).

Typed keys live in session state only (this browser tab): never on disk, in logs or in the database.
"""

from __future__ import annotations

import atexit
import subprocess
import time
from collections.abc import Mapping
from typing import Any

import openai
import streamlit as st

from lib.errors import StudioError
from lib.price import pricing
from lib.train import estimate, local_client, providers, tracking
from lib.train.local_client import LocalStatus
from lib.train.providers import KINDS, LABELS, ProviderConfig, ProviderError
from lib.ui.plain import plain


@st.cache_resource(show_spinner=False)
def _started_server() -> subprocess.Popen[Any]:
    """The local server this app started; it stops with the app."""
    process = local_client.start()
    atexit.register(process.terminate)
    return process


@st.cache_data(ttl=60, show_spinner=False)
def _local_machine_factor() -> float | None:
    return estimate.machine_factor(local_client.finished_job_speeds())


def local_training_estimate(counted_tokens: int, n_epochs: int, batch_size: int) -> estimate.TrainingEstimate:
    """How long the local provider will train: the benchmark's figures, scaled by this machine's finished jobs."""
    return estimate.training_estimate(counted_tokens, n_epochs, batch_size, _local_machine_factor())


def local_status() -> LocalStatus:
    try:
        models = local_client.served_models()
    except local_client.NotTheLocalServerError as error:
        return LocalStatus("stopped", str(error))
    if models is not None:
        return LocalStatus("ready", local_client.base_url(), local_client.decoder_sentence(models))
    if local_client.missing_packages():
        return LocalStatus("not installed", local_client.INSTALL_HINT)
    if not local_client.autostart_enabled():
        return LocalStatus("stopped", "Start it with `python -m lib.local` (STUDIO_LOCAL_AUTOSTART=0 is set).")
    process = _started_server()
    if process.poll() is None:
        return LocalStatus(
            "starting", "The first start prepares the base model (about 30 s); later starts take seconds."
        )
    return LocalStatus("stopped", f"The local server stopped. Its log: {local_client.log_path()}")


def _secrets() -> Mapping[str, Any]:
    try:
        return dict(st.secrets)
    except Exception:  # no secrets.toml, or an unreadable one: the environment still counts
        return {}


def _typed(name: str) -> str:
    """What the user typed for ``name`` (the widget's value, or what was kept while it was hidden)."""
    value = st.session_state.get(f"provider_input_{name}")
    return str(value if value is not None else st.session_state.get(f"provider_typed_{name}", ""))


def current_provider() -> ProviderConfig:
    """The provider chosen in the sidebar, with keys from what was typed, st.secrets or the environment."""
    kind = st.session_state.get("provider_kind", "local")
    typed = {name: _typed(name) for name in providers.ENVIRONMENT}
    return providers.from_settings(kind if kind in KINDS else "local", typed, _secrets())


def provider_client(config: ProviderConfig) -> openai.OpenAI:
    """One SDK client per provider configuration and session (raises ProviderError when something is missing)."""
    held = st.session_state.get("provider_client")
    if held and held[0] == config.fingerprint:
        return held[1]
    if held:
        held[1].close()  # the settings changed: let the old connections go
    client = providers.make_client(config)
    st.session_state["provider_client"] = (config.fingerprint, client)
    return client


SYNC_AGAIN_S = 30  # a screen that reads job records asks the provider again at most this often


def sync_jobs(config: ProviderConfig | None = None, again: bool = False) -> None:
    """Record what became of the jobs the app started (tuned model, final status): once per session and
    provider, or ``again`` (at most every SYNC_AGAIN_S, not on every rerun) where a screen is about to read those
    records. Quiet when the provider is not there."""
    config = config or current_provider()
    last: dict[str, float] = st.session_state.setdefault("provider_synced", {})
    seen = last.get(config.fingerprint)
    if seen is not None and not (again and time.monotonic() - seen > SYNC_AGAIN_S):
        return
    try:
        tracking.sync(provider_client(config), config)
    except StudioError:
        return
    last[config.fingerprint] = time.monotonic()


def require_fine_tuning() -> tuple[ProviderConfig, openai.OpenAI]:
    """The provider and client for Train and Jobs: a stop, saying why, where the provider does not fine-tune."""
    config, client = require_client()
    try:
        if providers.serves_fine_tuning(client, config):
            return config, client
    except ProviderError as error:
        st.warning(str(error), icon=":material/cloud_off:")
        st.stop()
    st.info(
        f"{config.label} at {config.endpoint} answers chats but does not fine-tune (it serves no "
        "/v1/fine_tuning/jobs). Compare and Evaluate can use its models; to train, choose Local, or a Tuning Studio "
        "server on another machine as the OpenAI-compatible server.",
        icon=":material/info:",
    )
    st.stop()
    raise AssertionError  # unreachable: st.stop() raises


def require_client() -> tuple[ProviderConfig, openai.OpenAI]:
    """The active provider and its client, or the reason it cannot be used and a stop."""
    config = current_provider()
    try:
        return config, provider_client(config)
    except StudioError as error:
        st.warning(str(error), icon=":material/key:")
        st.stop()
    raise AssertionError  # unreachable: st.stop() raises


@st.cache_data(ttl=60, show_spinner=False)
def _remote_check(fingerprint: str, _config: ProviderConfig) -> str:
    """'' when the provider answers, else why not (cached a minute per configuration)."""
    try:
        providers.check_connection(providers.make_client(_config, timeout=5, max_retries=0), _config)
    except ProviderError as error:
        return str(error)
    return ""


def _key_input(name: str, label: str, password: bool = False, help: str | None = None) -> None:
    """A text input whose value survives switching providers (kept under provider_typed_NAME)."""
    widget, kept = f"provider_input_{name}", f"provider_typed_{name}"
    if widget not in st.session_state:
        st.session_state[widget] = st.session_state.get(kept, "")
    st.session_state[kept] = st.text_input(
        label, key=widget, type="password" if password else "default", on_change=_remote_check.clear, help=help
    )


def _remote_settings(config: ProviderConfig) -> None:
    session_only = "Kept for this browser session only: never saved to disk."
    if config.kind == "openai" and (closing := pricing.openai_fine_tuning_closing()):
        st.warning(
            f"{closing['closing']} Last day for new jobs: {closing['last_day_for_new_jobs']} "
            f"([source]({closing['source']})). What keeps working: **Local** (this machine), a Tuning "
            "Studio server on another machine (**OpenAI-compatible server**), and **Azure OpenAI**.",
            icon=":material/event_busy:",
        )
    if config.kind == "compatible":
        where = ("vLLM, Ollama (http://127.0.0.1:11434/v1), LM Studio, llama.cpp's server or another machine's "
                 "Tuning Studio server: the address that ends in /v1")  # fmt: skip
        _key_input("compatible_url", "Base URL", help=where)
    key_name = {"azure": "azure_key", "compatible": "compatible_key"}.get(config.kind, "openai_key")
    if config.key_source in ("environment", "secrets"):
        where = "the environment" if config.key_source == "environment" else "st.secrets"
        st.caption(f"API key from {where}: `{providers.mask(config.api_key)}`. Type one below to use another.")
    _key_input(key_name, "API key" + (" (if the server asks for one)" if config.kind == "compatible" else ""),
               password=True, help=session_only)  # fmt: skip
    if config.kind == "azure":
        _key_input("azure_endpoint", "Endpoint", help="https://YOUR-RESOURCE.openai.azure.com")
        _key_input("azure_api_version", "API version", help=f"Empty: {providers.DEFAULT_AZURE_API_VERSION}")
        _key_input(
            "azure_deployment",
            "Deployment for answers",
            help="Azure answers with a tuned model only once it is deployed: give that deployment's name.",
        )


def provider_sidebar() -> None:
    """Choose the provider; show whether it answers and, for the local one, start it."""
    with st.sidebar:
        st.selectbox("Provider", KINDS, format_func=LABELS.__getitem__, key="provider_kind")
        config = current_provider()
        if config.kind == "local":
            if _local_sidebar():
                sync_jobs(config)  # the app's start: whatever finished while nobody watched is recorded
            return
        _remote_settings(config)
        config = current_provider()
        missing = config.missing()
        tested = st.button(
            "Test connection", key="provider_test", icon=":material/network_check:", disabled=bool(missing)
        )
        if tested:
            _remote_check.clear()
        if missing:
            state, detail = "not set up", f"Give its {' and '.join(missing)} above."
        else:
            detail = _remote_check(config.fingerprint, config)
            state = "not answering" if detail else "ready"
        icon = ":material/check_circle:" if state == "ready" else ":material/error:"
        st.markdown(f"{icon} **{config.label}**: {state}", help=detail or None)
        if state == "ready":
            sync_jobs(config)
        if detail:
            st.caption(detail)
        elif tested:
            st.success(f"{config.name} answers.")


def _local_sidebar() -> bool:
    """The local provider's state in the sidebar; whether it answers."""
    status = local_status()
    if status.state == "starting":
        _starting(status)
        return False
    icon = {"ready": ":material/check_circle:"}.get(status.state, ":material/error:")
    st.markdown(f"{icon} **Local provider**: {status.state}", help=status.detail)
    if status.state in ("not installed", "stopped"):
        st.caption(status.detail)
    if status.decoder:
        st.caption(status.decoder)
    if status.state == "stopped" and local_client.autostart_enabled():
        if st.button("Start the local server", key="provider_restart"):
            _started_server.clear()
            st.rerun()
    elif status.state == "ready" and st.button("Test connection", key="provider_test", icon=":material/network_check:"):
        config = current_provider()
        try:
            st.success(providers.check_connection(provider_client(config), config))
        except ProviderError as error:
            st.error(str(error))
    if status.state == "ready":
        _add_base_model()
    return status.state == "ready"


def _add_base_model() -> None:
    """Providers → Local → "Add a base model": a model folder or GGUF file on the machine the server runs on."""
    with st.expander("Add a base model", icon=":material/add_box:"):
        with st.form("add_base_model", border=False):
            name = st.text_input("Model id", placeholder="qwen2.5-0.5b", help="How Train, Compare and Evaluate name it")
            path = st.text_input(
                "Path on the server's machine",
                placeholder="/models/Qwen2.5-0.5B-Instruct or /models/gemma-3-1b.Q8_0.gguf",
                help="A Hugging Face model folder (config.json, *.safetensors, tokenizer) or a .gguf file. "
                "Licences are yours to check.",
            )
            if not st.form_submit_button("Add", icon=":material/add:"):
                return
        if not name.strip() or not path.strip():
            st.error("Give the model an id and the path of its folder or .gguf file.")
            return
        try:
            with st.spinner("Checking the model (a GGUF file is converted once: a minute or more)…"):
                added = local_client.add_base_model(name, path)
        except openai.APIStatusError as error:
            st.error(str(providers.explain(error, current_provider())))
            return
        except openai.APIConnectionError:
            st.error("The local server does not answer; the sidebar says whether it is starting.")
            return
        st.cache_data.clear()  # model lists are cached per page
        st.success(
            f"Added {plain(added['id'])}: {plain(added.get('architecture', ''))}, "
            f"{int(added.get('parameters', 0)) / 1e6:,.0f}M parameters, chat template: "
            f"{plain(added.get('chat_template', ''))}. Train, Compare and Evaluate offer it."
        )


@st.fragment(run_every=2.0)
def _starting(status: LocalStatus) -> None:
    """While the local server starts, look again every 2 s; once it answers, the whole page runs again."""
    if local_status().state != "starting":
        st.rerun()  # the page's own content depends on the provider: rerun all of it, not only this part
    st.markdown(f":material/hourglass_top: **Local provider**: {status.state}", help=status.detail)
