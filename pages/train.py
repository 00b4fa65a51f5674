"""Train: check a dataset version, see what training will cost, upload it and start a fine-tuning job."""

import contextlib
from dataclasses import replace

import openai
import streamlit as st

from lib.curate import datasets
from lib.errors import StudioError
from lib.openai_format.rules import MIN_EXAMPLES, SUFFIX_RULE, auto_batch_size, auto_epochs, suffix_problem
from lib.price import pricing
from lib.train import launch, local_client
from lib.train.estimate import rough_duration, this_machine_slowdown
from lib.train.launch import ExampleChoice, LaunchSettings
from lib.train.providers import ProviderConfig, base_models
from lib.ui import widgets
from lib.ui.contenders import offered_chat_models
from lib.ui.plain import plain
from lib.ui.provider import local_training_estimate, require_client
from lib.words import plural


@st.cache_data(ttl=60, show_spinner="Asking the provider for its models…")
def offered_models(fingerprint: str, _client: openai.OpenAI, _config: ProviderConfig) -> list[str]:
    return base_models(_client, _config)


EXAMPLE_LABELS = {ExampleChoice.ALL_BUT_REJECTED: "All but rejected", ExampleChoice.APPROVED_ONLY: "Approved only"}

dataset = widgets.require_dataset()
st.title(f"Train · {plain(dataset.name)}")
widgets.show_flash()
config, client = require_client()
try:
    models = offered_models(config.fingerprint, client, config)
except StudioError as error:
    st.error(str(error), icon=":material/cloud_off:")
    if st.button("Try again", icon=":material/refresh:"):
        offered_models.clear()
        st.rerun()
    st.stop()
if not models:
    st.warning(f"{config.name} offers no base model to fine-tune.")
    st.stop()

left, right = st.columns(2)
versions = {v.id: v for v in datasets.versions(dataset.id)}
version_id = left.selectbox(
    "Dataset version",
    list(versions),
    key=f"train_version_{dataset.id}",
    format_func=lambda v: (
        f"{versions[v].number} · {versions[v].created_at} · {versions[v].summary} "
        f"({plural(versions[v].n_examples, 'example')})"
    ),
    help="The newest first; a job records which version it trained on.",
)
latest = version_id == dataset.version_id
dataset = replace(dataset, version_id=version_id)
rows = widgets.cached_rows(dataset.id, dataset.version_id)
base_model = right.selectbox("Base model", models, key="train_model")
choice = (
    left.radio(
        "Examples", list(EXAMPLE_LABELS), key="train_examples", horizontal=True, format_func=EXAMPLE_LABELS.__getitem__
    )
    or ExampleChoice.ALL_BUT_REJECTED
)
validation = left.slider(
    "Validation share", 0, 50, 10, step=5, format="%d%%", key="train_validation",
    help="Held out of training to measure the validation loss; the same seed gives the same split. "
    "Rows tagged 'validation' are always held out.",
)  # fmt: skip
suffix = left.text_input("Suffix", key="train_suffix", max_chars=64, help="Part of the tuned model's name").strip()
if suffix_problem(suffix):
    left.error(suffix_problem(suffix), icon=":material/edit_off:")
else:
    left.caption(f"Suffix: {SUFFIX_RULE}.")
epochs, epochs_ok = widgets.optional_number(right, "Epochs", "train_epochs", 1, 50)
batch_size, batch_ok = widgets.optional_number(right, "Batch size", "train_batch_size", 1, 256)
multiplier, multiplier_ok = widgets.optional_number(
    right, "Learning-rate multiplier", "train_lr", 0.01, 10, whole=False
)
seed, seed_ok = widgets.optional_number(
    right, "Seed", "train_seed", 0, 2**31 - 1, blank="random", help="Same seed, same run"
)
chosen = launch.chosen_rows(rows, choice)
tuned: list[str] = []
if launch.method_for_or_none(chosen) == "dpo":
    with contextlib.suppress(StudioError):  # no tuned model to continue: DPO starts from the base model
        tuned = offered_chat_models(config.fingerprint, client, config)
method, beta, start, method_ok = widgets.training_method(right, chosen, base_model, tuned)
watch = config.kind == "local" and method == "supervised"  # early stopping watches a supervised validation loss
patience = widgets.early_stopping_patience(right, validation > 0) if watch else None
numbers_ok = epochs_ok and batch_ok and multiplier_ok and seed_ok and method_ok and not suffix_problem(suffix)
settings = LaunchSettings(
    start, choice, validation / 100, None if epochs is None else int(epochs),
    None if batch_size is None else int(batch_size), multiplier, suffix, None if seed is None else int(seed),
    patience, method, beta,
)  # fmt: skip

training_rows, validation_rows = launch.split_rows(chosen, settings)
st.subheader("Before you start")
cells = st.columns(4)
cells[0].metric("Training examples", len(training_rows))
cells[1].metric("Validation examples", len(validation_rows))
if config.kind == "local":
    counts = launch.training_counts(rows, widgets.cached_counts(dataset.id, dataset.version_id, "o200k_base"), settings)
    n_epochs = settings.n_epochs or auto_epochs(len(counts))
    batch_size = settings.batch_size or auto_batch_size(len(counts))
    local = local_training_estimate(sum(c.total for c in counts), n_epochs, batch_size)
    cells[2].metric("Epochs", n_epochs)
    basis = "this machine's last jobs" if local.measured_here else "a benchmark machine (no job here yet)"
    cells[3].metric(
        "Training time (estimate)", f"{'up to' if patience else 'about'} {rough_duration(local.seconds)}",
        help=f"At {local.tokens_per_second:,.0f} tokens/s with batch size {batch_size}, measured on {basis}, with "
        "the machine otherwise idle; free. While the job runs, Jobs refines the finish time from its own steps.",
    )  # fmt: skip
    slowdown, load, cores = this_machine_slowdown()
    if slowdown >= 1.5 and local_client.base_url().startswith("http://127.0.0.1"):  # the server shares this CPU
        st.caption(
            f":material/speed: This machine is busy (load {load:.1f} on {plural(cores, 'core')}): training may take "
            f"up to {rough_duration(local.seconds * slowdown)} while that lasts.",
        )
estimated_cost = None
if config.kind != "local":
    try:
        info = pricing.resolve(base_model, widgets.user_prices())
        counts = launch.training_counts(
            rows, widgets.cached_counts(dataset.id, dataset.version_id, info.encoding), settings
        )
        estimate = pricing.estimate(counts, info, settings.n_epochs)
        estimated_cost = estimate.cost_usd
        cells[2].metric("Billed tokens", f"{estimate.billed_tokens:,}", help=f"{estimate.epochs} epochs")
        cells[3].metric("Training cost", f"${estimate.cost_usd:,.2f}", help="At the prices on Tokens and cost")
    except StudioError:
        cells[2].caption(f"No price is listed for {base_model}.")

errors = launch.blocking_findings(rows, choice, widgets.cached_findings(dataset.id, dataset.version_id))
if errors:
    st.error(f"{plural(len(errors), 'error')} in the chosen examples: fix them before launch.", icon=":material/block:")
    for finding in errors[:10]:
        where = f"Row {finding.line}" if finding.line else "Dataset"
        text, link = st.columns([5, 1])
        text.markdown(f"**{where}** · {finding.message}")
        if (
            latest
            and finding.line
            and link.button("Open", key=f"train_open_{finding.line}", icon=":material/arrow_forward:")
        ):
            st.session_state["examples_focus"] = finding.line
            st.switch_page("pages/examples.py")
    if len(errors) > 10:
        st.caption(f"…and {len(errors) - 10} more on the Examples screen.")
    if not latest:
        st.caption("These are the rows of an earlier version: fix them in the latest one, or restore it on History.")
elif len(training_rows) < MIN_EXAMPLES:
    st.warning(f"Training needs at least {MIN_EXAMPLES} examples; this choice has {len(training_rows)}.")
if config.kind == "azure":
    st.info(
        "On Azure a tuned model answers only after you deploy it (Azure portal or AI Foundry).", icon=":material/info:"
    )

ready = not errors and len(training_rows) >= MIN_EXAMPLES and numbers_ok
if st.button("Upload and start training", type="primary", icon=":material/rocket_launch:", disabled=not ready):
    bar = st.progress(0.0, "Checking the examples…")

    def show(done: float, text: str) -> None:
        bar.progress(done, text)

    try:
        job = launch.launch(client, config, dataset, rows, settings, show, estimated_cost)
    except StudioError as error:
        bar.empty()
        st.error(str(error), icon=":material/error:")
    else:
        st.session_state["jobs_pending_selection"] = job.id
        st.switch_page("pages/jobs.py")
