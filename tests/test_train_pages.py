"""The Train and Jobs screens through AppTest, against a real local server with the tiny test model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from streamlit.testing.v1 import AppTest

from lib.curate.dataset import NewRow
from lib.curate.import_export import load_sample
from lib.db import dataset_store, provenance_store
from lib.openai_format.examples import single_turn
from lib.settings import PROJECT_DIR
from lib.train.launch import ExampleChoice
from tests.local_server import running_server, tiny_settings
from tests.test_local_server import wait_for
from tests.test_pages import button, open_page
from tests.tiny_model import TINY

SECRET_KEY = "sk-test-0123456789abcdefSECRET"


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tiny_settings(tmp_path_factory.mktemp("local"))) as url:
        yield url


@pytest.fixture
def local(server_url: str, monkeypatch: pytest.MonkeyPatch) -> openai.OpenAI:
    """The app's local provider is the tiny test server; returns a client to look at it directly."""
    monkeypatch.setenv("STUDIO_LOCAL_URL", server_url)
    return openai.OpenAI(base_url=server_url, api_key="local", max_retries=0)


def metric(at: AppTest, label: str) -> str:
    return str(next(m.value for m in at.metric if m.label == label))


def launch(at: AppTest, epochs: int = 1, suffix: str = "elle") -> None:
    at.text_input(key="train_epochs").input(str(epochs))
    at.text_input(key="train_suffix").input(suffix)
    at.text_input(key="train_seed").input("7")
    at.run()
    button(at, "Upload and start training").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]


def test_launch_shows_the_estimate_then_the_job_runs_to_a_tuned_model(local: openai.OpenAI) -> None:
    dataset = load_sample()
    at = open_page("pages/train.py")
    assert at.selectbox(key="train_model").options == [TINY]  # the provider's base models, not its tuned ones
    assert (metric(at, "Training examples"), metric(at, "Validation examples")) == ("36", "4")
    assert metric(at, "Training time (estimate)").startswith("about ")
    launch(at)

    [(job_id, made)] = provenance_store.job_provenance("local").items()
    assert (made.dataset_name, made.version_id, made.n_examples) == ("Elle limericks", dataset.version_id, 40)
    job = local.fine_tuning.jobs.retrieve(job_id)
    assert (job.training_file, job.validation_file, job.seed) == (made.training_file, made.validation_file, 7)
    assert len(local.files.content(made.training_file).text.splitlines()) == 36

    at.switch_page("pages/jobs.py").run()
    assert at.selectbox(key="jobs_selected").value == job_id
    wait_for(local, job_id, {"succeeded"})
    at.run()
    assert not at.exception
    assert metric(at, "Status") == "succeeded"
    tuned = local.fine_tuning.jobs.retrieve(job_id).fine_tuned_model
    assert tuned and tuned.startswith(f"ft:{TINY}:local:elle:")
    assert tuned in at.success[0].value
    assert provenance_store.job_provenance("local")[job_id].fine_tuned_model == tuned  # the chain is complete
    chain = next(c.value for c in at.caption if c.value.startswith("Made from"))
    assert "Elle limericks" in chain and made.training_file in chain and tuned in chain
    events = at.dataframe[1].value
    assert events["Message"].iloc[0] == "The job has successfully completed"  # newest first
    assert len(events) == 20 and not any(m.startswith("Step 1/") for m in events["Message"])  # paged
    pages = at.number_input(key=f"jobs_events_page_{job_id}")
    pages.set_value(pages.max).run()
    assert at.dataframe[1].value["Message"].iloc[-1] == f"Created fine-tuning job: {job_id}"  # the oldest
    assert [d.proto.label for d in at.get("download_button")] == ["Download the result file (CSV)"]
    checkpoints = next(d.value for d in at.dataframe if "Step" in d.value.columns)
    assert checkpoints["Model"].iloc[0].startswith(f"{tuned}:ckpt-step-")
    assert len(at.get("vega_lite_chart")) == 3  # loss, token accuracy and the data map

    button(at, "Compare this model").click().run()
    assert at.selectbox(key="compare_model_1").value == tuned  # the compare screen opens with it chosen


def test_costs_counts_the_training_rows_train_starts_with(local: openai.OpenAI) -> None:
    """Tokens and cost estimates over the rows Train trains on (same split), not every row of the dataset."""
    dataset = load_sample()
    rows = dataset_store.rows(dataset.id)
    dataset_store.update_rows(dataset.id, {rows[0].id: {"status": "rejected"}, rows[1].id: {"tags": "validation"}})
    at = open_page("pages/train.py")
    trained = metric(at, "Training examples")
    at.switch_page("pages/costs.py").run()
    assert not at.exception and metric(at, "Examples") == trained == "34"  # 40, less 1 rejected, 1 tagged, 4 held out
    assert "the 34 training rows of 40 that Train starts with" in at.caption[0].value


def test_a_dataset_with_errors_cannot_be_launched_and_links_to_the_row(local: openai.OpenAI) -> None:
    dataset = load_sample()
    dataset_store.add_rows(dataset.id, [NewRow(single_turn("", "Tell me about tin.", ""))])  # no answer: row 41
    at = open_page("pages/train.py")
    assert "1 error in the chosen examples" in at.error[0].value
    assert button(at, "Upload and start training").disabled
    assert any("Row 41" in m.value for m in at.markdown)
    button(at, "Open").click().run()
    assert at.session_state["examples_focus"] == 41

    at = open_page("pages/train.py")
    versions = at.selectbox(key=f"train_version_{dataset.id}")
    versions.set_value(dataset.version_id).run()  # the version before the faulty row was added
    assert not at.error and metric(at, "Training examples") == "36"
    assert not button(at, "Upload and start training").disabled

    at = open_page("pages/train.py")
    at.radio(key="train_examples").set_value(ExampleChoice.APPROVED_ONLY).run()
    assert not at.error  # the faulty row is not chosen now, but too few examples are
    assert "at least 10 examples" in at.warning[0].value
    assert button(at, "Upload and start training").disabled


def test_an_invalid_number_is_said_next_to_its_field_and_blocks_the_launch(local: openai.OpenAI) -> None:
    load_sample()
    at = open_page("pages/train.py")
    assert not button(at, "Upload and start training").disabled
    for key, text, said in [
        ("train_batch_size", "0", "Batch size must be from 1 to 256"),
        ("train_lr", "-1", "Learning-rate multiplier must be from 0.01 to 10"),
        ("train_seed", "abc", "“abc” is not a whole number"),
        ("train_suffix", "elle 🧪 test!!", "The suffix may hold only letters, digits, - and _, up to 64 characters"),
    ]:
        at.text_input(key=key).input(text).run()
        assert any(said in e.value for e in at.error), [e.value for e in at.error]
        assert button(at, "Upload and start training").disabled  # never launched with a replaced value
        assert at.text_input(key=key).value == text  # what was typed stays, to be corrected
        at.text_input(key=key).input("").run()
    assert not at.error and not button(at, "Upload and start training").disabled


def test_early_stopping_needs_validation_and_the_jobs_screen_says_the_best_epoch_was_kept(
    local: openai.OpenAI,
) -> None:
    load_sample()
    at = open_page("pages/train.py")
    at.slider(key="train_validation").set_value(0).run()
    assert at.checkbox(key="train_early_stop").disabled  # nothing to watch without validation examples
    at.slider(key="train_validation").set_value(10).run()
    at.checkbox(key="train_early_stop").check().run()
    at.number_input(key="train_patience").set_value(1).run()
    assert metric(at, "Training time (estimate)").startswith("up to ")
    launch(at, epochs=3, suffix="early")

    [job_id] = provenance_store.job_provenance("local")
    assert local.fine_tuning.jobs.retrieve(job_id).hyperparameters.model_extra == {"early_stopping_patience": 1}
    wait_for(local, job_id, {"succeeded"})
    at.switch_page("pages/jobs.py").run()
    assert at.selectbox(key="jobs_selected").value == job_id
    kept = next(s.value for s in at.success if "Early stopping kept" in s.value)
    assert str(local.fine_tuning.jobs.retrieve(job_id).fine_tuned_model) in kept
    assert not any(b.label == "Compare the best checkpoint" for b in at.button)  # the tuned model is the best


def test_cancel_asks_for_confirmation_and_stops_the_job(local: openai.OpenAI) -> None:
    load_sample()
    at = open_page("pages/train.py")
    launch(at, epochs=50, suffix="long")
    job_id = next(iter(provenance_store.job_provenance("local")))
    at.switch_page("pages/jobs.py").run()
    assert button(at, "Cancel the job").disabled
    at.checkbox(key=f"jobs_confirm_{job_id}").check().run()
    button(at, "Cancel the job").click().run()
    assert wait_for(local, job_id, {"cancelled"}, timeout=60).status == "cancelled"
    at.run()
    assert metric(at, "Status") == "cancelled"
    assert not [b for b in at.button if b.label == "Cancel the job"]


def test_jobs_from_outside_the_app_show_unknown_dataset_and_filter_by_status(local: openai.OpenAI) -> None:
    uploaded = local.files.create(file=("bad.jsonl", b'{"messages": []}\n' * 10), purpose="fine-tune")
    outside = local.fine_tuning.jobs.create(model=TINY, training_file=uploaded.id)
    wait_for(local, outside.id, {"failed"})
    at = open_page("pages/jobs.py")
    table = at.dataframe[0].value
    assert table.loc[table["Job"] == outside.id, "Dataset"].item() == "unknown dataset"
    at.selectbox(key="jobs_selected").set_value(outside.id).run()
    assert "The job failed: Training file" in at.error[0].value
    assert any("unknown dataset" in c.value for c in at.caption)
    at.multiselect(key="jobs_status").select("failed").run()
    assert set(at.dataframe[0].value["Status"]) == {"failed"} and outside.id in set(at.dataframe[0].value["Job"])
    assert at.selectbox(key="jobs_selected").value == outside.id  # the job to watch follows the filter too
    at.multiselect(key="jobs_status").unselect("failed").select("paused").run()
    assert at.info[0].value == "No job has the chosen status."


def first_run(page: str = "", **state: str) -> AppTest:
    """A first run with ``state`` preset. AppTest (1.67) drops app.py's own sidebar elements from its tree on
    later runs and page switches (a real browser keeps them), so sidebar checks look at a first run only."""
    at = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=20)
    for key, value in state.items():
        at.session_state[key] = value
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def test_openai_without_a_key_says_what_to_give(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    load_sample()
    at = first_run(provider_kind="openai")
    assert "**OpenAI**: not set up" in at.sidebar.markdown[0].value
    assert "API key" in [t.label for t in at.sidebar.text_input]
    at = first_run("pages/train.py", provider_kind="openai")
    assert at.warning[0].value == "OpenAI needs its API key: give it in the sidebar."
    assert not [b for b in at.button if b.label.startswith("Upload")]


def test_a_typed_key_is_used_masked_and_never_written(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing answers there
    load_sample()
    # typed earlier, then hidden while another provider was chosen: still there
    at = first_run(provider_kind="openai", provider_typed_openai_key=SECRET_KEY)
    assert at.sidebar.text_input(key="provider_input_openai_key").value == SECRET_KEY
    assert "**OpenAI**: not answering" in at.sidebar.markdown[0].value  # the key was used to call it
    assert "Could not reach OpenAI" in " ".join(c.value for c in at.sidebar.caption)
    at = first_run("pages/jobs.py", provider_kind="openai", provider_input_openai_key=SECRET_KEY)
    assert "Could not reach OpenAI" in at.error[0].value
    for path in data_dir.rglob("*"):
        assert not path.is_file() or SECRET_KEY.encode() not in path.read_bytes(), path


def test_a_key_from_the_environment_is_shown_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    at = first_run(provider_kind="openai")
    shown = " ".join(c.value for c in at.sidebar.caption)
    assert "`sk-…CRET`" in shown and SECRET_KEY not in shown
    assert at.sidebar.text_input(key="provider_input_openai_key").value == ""  # the environment's key is not echoed


def test_jobs_screen_with_no_job_yet_points_to_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_server(tiny_settings(tmp_path / "fresh", start_worker=False)) as url:
        monkeypatch.setenv("STUDIO_LOCAL_URL", url)
        at = first_run("pages/jobs.py")
        assert at.info[0].value == "The local server has no fine-tuning jobs yet."


def test_train_screen_offers_to_try_again_when_the_local_server_is_down() -> None:
    load_sample()
    at = first_run("pages/train.py")
    assert at.error[0].value.startswith("The local server does not answer at http://127.0.0.1:9/v1.")
    assert [b.label for b in at.button] == ["Try again"]


def test_the_data_map_of_a_finished_job_on_jobs_and_as_columns_and_a_filter_on_examples(
    local: openai.OpenAI,
) -> None:
    from lib.curate.table import to_frame
    from lib.train import data_map
    from lib.train.providers import ProviderConfig

    dataset = load_sample()
    at = open_page("pages/train.py")
    launch(at, epochs=2, suffix="map")
    [(job_id, made)] = provenance_store.job_provenance("local").items()
    job = wait_for(local, job_id, {"succeeded"})
    at.switch_page("pages/jobs.py").run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 3  # loss, token accuracy and the data map
    [expander] = [e for e in at.expander if e.label.startswith("Data map")]
    assert expander.label == "Data map: 36 examples of Elle limericks by what training said"

    losses = data_map.fetch(local, ProviderConfig("local"), job)
    assert losses is not None and sorted(losses) == list(range(1, 37)) and all(len(v) == 2 for v in losses.values())
    signals = {s.row_id: s for s in data_map.signals(losses, made)}
    assert set(signals) == set(made.training_rows)
    assert {s.group for s in signals.values()} == {
        data_map.HARD,
        data_map.EASY,
    }  # the tiny model's probabilities barely move
    rows = dataset_store.rows(dataset.id)
    frame = to_frame(list(enumerate(rows, start=1)), signals)
    assert frame["signal"].tolist() == [signals[r.id].group if r.id in signals else "" for r in rows]

    at.switch_page("pages/examples.py").run()
    assert at.selectbox(key="examples_signal").options == ["all", *data_map.GROUPS]
    at.selectbox(key="examples_signal").select(data_map.HARD).run()
    hard = sum(s.group == data_map.HARD for s in signals.values())
    assert f"{hard} of 40 examples" in " ".join(c.value for c in at.caption)


def test_the_version_list_numbers_versions_as_history_does(local: openai.OpenAI) -> None:
    other = dataset_store.create_dataset("Other", [NewRow(single_turn("s", "q", "a"))])
    dataset_store.update_rows(other.id, {dataset_store.rows(other.id)[0].id: {"status": "approved"}})
    dataset = load_sample()  # its version ids come after the other dataset's
    at = open_page("pages/train.py")
    versions = at.selectbox(key=f"train_version_{dataset.id}")
    assert [option.split(" · ")[0] for option in versions.options] == ["2", "1"]  # newest first, as History
    assert dataset.version_id > 2  # the ids count the other dataset's versions too
