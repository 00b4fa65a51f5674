"""The sidebar's provider status; starts the local server when it is not running (once per app process)."""

from __future__ import annotations

import atexit
import subprocess
from typing import Any

import streamlit as st

from lib import local_provider
from lib.local_provider import LocalStatus


@st.cache_resource(show_spinner=False)
def _started_server() -> subprocess.Popen[Any]:
    """The local server this app started; it stops with the app."""
    process = local_provider.start()
    atexit.register(process.terminate)
    return process


@st.cache_data(ttl=60, show_spinner=False)
def local_throughput() -> tuple[float, bool]:
    """Tokens/s of the local trainer: measured by this machine's jobs (True) or the benchmark's figure (False)."""
    measured = local_provider.measured_throughput()
    return (measured, True) if measured else (local_provider.MEASURED_TOKENS_PER_SECOND, False)


def local_status() -> LocalStatus:
    if local_provider.answers():
        return LocalStatus("ready", local_provider.base_url())
    if local_provider.missing_packages():
        return LocalStatus("not installed", local_provider.INSTALL_HINT)
    if not local_provider.autostart_enabled():
        return LocalStatus("stopped", "Start it with `python -m lib.local` (STUDIO_LOCAL_AUTOSTART=0 is set).")
    process = _started_server()
    if process.poll() is None:
        return LocalStatus(
            "starting", "The first start prepares the base model (about 30 s); later starts take seconds."
        )
    return LocalStatus("stopped", f"The local server stopped. Its log: {local_provider.log_path()}")


def provider_sidebar() -> None:
    """Which provider is active and whether it answers."""
    status = local_status()
    icon = {"ready": ":material/check_circle:", "starting": ":material/hourglass_top:"}.get(
        status.state, ":material/error:"
    )
    with st.sidebar:
        st.markdown(f"{icon} **Local provider**: {status.state}", help=status.detail)
        if status.state == "not installed":
            st.caption(status.detail)
        elif status.state == "stopped":
            st.caption(status.detail)
            if local_provider.autostart_enabled() and st.button("Start the local server", key="provider_restart"):
                _started_server.clear()
                st.rerun()
