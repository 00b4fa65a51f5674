"""Train: check a dataset version, see what training will cost, upload it and start a fine-tuning job."""

import contextlib

import streamlit as st

from lib.errors import StudioError
from lib.openai_format.rules import MIN_EXAMPLES, SUFFIX_RULE, suffix_problem
from lib.train import launch
from lib.train.launch import ExampleChoice, LaunchSettings
from lib.ui import train_view, widgets
from lib.ui.contenders import offered_chat_models
from lib.ui.plain import plain
from lib.ui.provider import require_fine_tuning

dataset = widgets.require_dataset()
st.title(f"Train · {plain(dataset.name)}")
widgets.show_flash()
config, client = require_fine_tuning()
models = train_view.models_or_stop(config, client)

left, right = st.columns(2)
dataset, latest = train_view.version_choice(left, dataset)
rows = widgets.cached_rows(dataset.id, dataset.version_id)
base_model = right.selectbox("Base model", models, key="train_model")
choice = (
    left.radio(
        "Examples",
        list(launch.EXAMPLE_LABELS),
        key="train_examples",
        horizontal=True,
        format_func=launch.EXAMPLE_LABELS.__getitem__,
    )
    or ExampleChoice.ALL_BUT_REJECTED
)
validation = left.slider(
    "Validation share", 0, 50, round(launch.DEFAULT_VALIDATION_FRACTION * 100), step=5, format="%d%%",
    key="train_validation",
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
passages = train_view.passages_choice(left)
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
    patience, method, beta, passages,
)  # fmt: skip

split = launch.training_split(chosen, settings)  # once per render: the figures and the launch use it
estimated_cost = train_view.before_you_start(config, dataset, rows, split, settings, base_model)

findings = widgets.cached_findings(dataset.id, dataset.version_id)  # checked once: the launch reads them too
errors = launch.blocking_findings(rows, choice, findings)
if errors:
    train_view.blocking_errors(errors, latest)
elif len(split.training) < MIN_EXAMPLES:
    st.warning(f"Training needs at least {MIN_EXAMPLES} examples; this choice has {len(split.training)}.")
if config.kind == "azure":
    st.info(
        "On Azure a tuned model answers only after you deploy it (Azure portal or AI Foundry).", icon=":material/info:"
    )

ready = not errors and len(split.training) >= MIN_EXAMPLES and numbers_ok
if st.button("Upload and start training", type="primary", icon=":material/rocket_launch:", disabled=not ready):
    bar = st.progress(0.0, "Checking the examples…")

    def show(done: float, text: str) -> None:
        bar.progress(done, text)

    try:
        job = launch.launch(client, config, dataset, rows, settings, show, estimated_cost, split, findings)
    except StudioError as error:
        bar.empty()
        st.error(str(error), icon=":material/error:")
    else:
        st.session_state["jobs_pending_selection"] = job.id
        st.switch_page("pages/jobs.py")
