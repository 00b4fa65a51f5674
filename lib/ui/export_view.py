"""Jobs → Export: a local tuned model (or a checkpoint) as GGUF, a Hugging Face folder or an Ollama bundle."""

from __future__ import annotations

import re
from collections.abc import Sequence

import streamlit as st

from lib.errors import StudioError
from lib.settings import data_dir
from lib.train import local_client


def export_section(models: Sequence[str]) -> None:
    """Choose the model and format, let the server merge and write it, then download it."""
    with st.expander("Export this model", icon=":material/ios_share:"):
        model = st.selectbox("Model", models, key="jobs_export_model", help="The tuned model or one of its checkpoints")
        format = st.radio("Format", list(local_client.EXPORT_FORMATS), format_func=local_client.EXPORT_FORMATS.get,
                          horizontal=True, key="jobs_export_format")  # fmt: skip
        quant = "q8_0"
        if format != "hf":
            quant = st.radio("GGUF weights", ["q8_0", "f16"], horizontal=True, key="jobs_export_quant",
                             help="q8_0: a quarter of fp32, answers all but identical; f16: half, closest")  # fmt: skip
        if not st.button("Prepare the export", icon=":material/build:", key="jobs_export_go"):
            return
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", str(model)).strip("-")
        suffix = ".gguf" if format == "gguf" else ".zip"
        out = data_dir() / "exports" / f"{name}-{format}{suffix}"
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            with st.spinner("Merging the adapter into the base model and writing it…"):
                local_client.export_model(str(model), str(format), quant, out)
        except StudioError as error:
            st.error(str(error))
            return
        st.success(f"Ready: {out.stat().st_size / 2**20:,.1f} MB, also kept at {out}.")
        with out.open("rb") as written:
            st.download_button(f"Download {out.name}", written, out.name, "application/octet-stream",
                               icon=":material/download:", key="jobs_export_download")  # fmt: skip
        if format == "ollama":
            st.caption("Unzip it, then `ollama create NAME -f Modelfile` and `ollama run NAME` in that folder.")
