"""Every screen driven through Streamlit's AppTest, the way a user would use it."""

import http.server
import json
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button

from lib.curate.dataset import NewRow
from lib.curate.import_export import load_sample
from lib.db import dataset_store, dataset_versions, price_store
from lib.openai_format.examples import single_turn
from lib.price import pricing
from lib.settings import PROJECT_DIR
from lib.train import estimate, local_client
from tests.local_server import running_server, tiny_settings


def open_page(page: str = "") -> AppTest:
    at = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=20)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str) -> Button:
    return next(b for b in at.button if b.label.startswith(label))


def test_first_run_offers_the_sample_and_loads_it() -> None:
    at = open_page()
    button(at, "Load the Elle sample").click().run()
    assert not at.exception
    [dataset] = dataset_store.list_datasets()
    assert (dataset.name, dataset.n_examples) == ("Elle limericks", 40)
    assert at.sidebar.selectbox[0].value == dataset.id


def test_create_rename_duplicate_and_delete_with_confirmation() -> None:
    at = open_page()
    at.text_input[0].input("Elle v2")
    button(at, "Create").click().run()
    assert [d.name for d in dataset_store.list_datasets()] == ["Elle v2"]
    rename = next(t for t in at.text_input if t.label == "New name")
    rename.input("Elle final")
    button(at, "Rename").click().run()
    assert [d.name for d in dataset_store.list_datasets()] == ["Elle final"]
    button(at, "Duplicate").click().run()
    assert sorted(d.name for d in dataset_store.list_datasets()) == ["Elle final", "Elle final (copy)"]
    delete = button(at, "Delete dataset")
    assert delete.disabled  # not before the confirmation box is ticked
    at.checkbox[0].check().run()
    button(at, "Delete dataset").click().run()
    assert len(dataset_store.list_datasets()) == 1 and not at.exception


def test_duplicate_name_shows_an_error_not_a_traceback() -> None:
    dataset_store.create_dataset("Elle")
    at = open_page()
    at.text_input[0].input("elle")
    button(at, "Create").click().run()
    assert not at.exception and "already exists" in at.error[0].value


def test_table_edit_is_saved_and_can_be_undone() -> None:
    dataset = load_sample()
    at = open_page("pages/examples.py")
    first = dataset_store.rows(dataset.id)[0]
    key = f"examples_editor_{at.session_state['examples_editor_generation']}"
    at.session_state[key] = {
        "edited_rows": {0: {"assistant": "A new limerick", "status": "approved"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception
    saved = dataset_store.rows(dataset.id)[0]
    assert saved.id == first.id and saved.status == "approved"
    assert saved.example["messages"][2]["content"] == "A new limerick"
    button(at, "Undo").click().run()
    assert dataset_store.rows(dataset.id)[0] == first


def test_adding_and_deleting_rows_in_the_table() -> None:
    dataset = load_sample()
    at = open_page("pages/examples.py")
    key = f"examples_editor_{at.session_state['examples_editor_generation']}"
    at.session_state[key] = {
        "edited_rows": {},
        "added_rows": [{"user": "Tell me about iron.", "assistant": "Fe..."}],
        "deleted_rows": [0, 1],
    }
    at.run()
    rows = dataset_store.rows(dataset.id)
    assert len(rows) == 39 and rows[-1].example["messages"][-1]["content"] == "Fe..."
    assert "gold" not in rows[0].example["messages"][1]["content"]
    assert not at.exception


def test_one_table_edit_is_one_version_and_one_undo() -> None:
    dataset = load_sample()
    before = dataset_store.rows(dataset.id)
    versions = len(dataset_versions.versions(dataset.id))
    at = open_page("pages/examples.py")
    key = f"examples_editor_{at.session_state['examples_editor_generation']}"
    at.session_state[key] = {
        "edited_rows": {2: {"status": "approved"}},
        "added_rows": [{"user": "Tell me about iron.", "assistant": "Fe..."}],
        "deleted_rows": [0],
    }
    at.run()
    assert len(dataset_versions.versions(dataset.id)) == versions + 1
    assert dataset_versions.versions(dataset.id)[0].summary == "Edited 1 example, added 1 example, deleted 1 example"
    button(at, "Undo").click().run()
    assert dataset_store.rows(dataset.id) == before  # one undo takes back the whole edit


def test_search_filter_and_bulk_system_prompt() -> None:
    dataset = load_sample()
    at = open_page("pages/examples.py")
    at.text_input(key="examples_search").input("noble gas").run()
    assert "of 40 examples" in at.caption[0].value
    shown = int(at.caption[0].value.split()[0])
    assert 0 < shown < 40
    at.text_area(key="examples_bulk_system").input("Answer in one limerick.")
    button(at, "Set this system prompt").click().run()
    prompts = [r.example["messages"][0]["content"] for r in dataset_store.rows(dataset.id)]
    assert prompts.count("Answer in one limerick.") == shown
    at.text_area(key="examples_bulk_system").input("")
    button(at, "Set this system prompt").click().run()
    assert dataset_versions.versions(dataset.id)[0].summary == f"Removed the system prompt of {shown} examples"


def test_the_chosen_dataset_is_in_the_url_and_a_reload_keeps_it() -> None:
    load_sample()
    second = dataset_store.create_dataset("Second", [NewRow(single_turn("s", "q", "a"))])
    at = open_page("pages/examples.py")
    at.selectbox(key="sidebar_dataset").select(second.id).run()
    assert at.title[0].value == "Examples · Second"
    assert at.query_params["dataset"] in (str(second.id), [str(second.id)])

    reloaded = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=20)
    reloaded.query_params["dataset"] = str(second.id)  # a reload, or a link someone was sent
    reloaded.run()
    reloaded.switch_page("pages/examples.py").run()
    assert reloaded.title[0].value == "Examples · Second"


def test_validation_panel_lists_findings_and_shows_the_row() -> None:
    dataset = dataset_store.create_dataset("Broken")
    dataset_store.add_rows(dataset.id, [NewRow(single_turn("s", "ok", "fine")), NewRow(single_turn("s", "q", " "))])
    at = open_page("pages/examples.py")
    assert "1 error, 1 warning" in at.subheader[0].value
    finding = at.selectbox(key=f"examples_finding_{dataset_store.get_dataset(dataset.id).version_id}")
    assert "Row 2" in finding.format_func(finding.value)
    button(at, "Show this row").click().run()
    assert "Showing row 2 only." in at.info[0].value

    fixed = dataset_store.rows(dataset.id)[1]
    dataset_store.update_rows(dataset.id, {fixed.id: {"example": single_turn("s", "q", "an answer")}})
    at.run()  # the next run shows the fixed version: its finding is gone from the heading and from the list
    assert "0 errors" in at.subheader[0].value
    version = dataset_store.get_dataset(dataset.id).version_id
    assert not any(s.key == f"examples_finding_{version}" for s in at.selectbox)


def conversation_key(dataset_id: int, row_id: int, field: str) -> str:
    """A turn widget's key: it names the dataset version shown, so it changes with every saved change."""
    return f"conversation_{row_id}_{dataset_store.get_dataset(dataset_id).version_id}_{field}"


def test_conversation_editor_saves_each_turn_and_adds_turns() -> None:
    dataset = load_sample()
    at = open_page("pages/conversation.py")
    row = dataset_store.rows(dataset.id)[0]
    text = at.text_area(key=conversation_key(dataset.id, row.id, "2_text"))
    text.input("An edited answer").run()
    assert dataset_store.rows(dataset.id)[0].example["messages"][2]["content"] == "An edited answer"
    button(at, "Add turn").click().run()
    assert dataset_store.rows(dataset.id)[0].example["messages"][-1] == {"role": "user", "content": ""}
    at.checkbox(key=conversation_key(dataset.id, row.id, "2_w")).uncheck().run()
    assert dataset_store.rows(dataset.id)[0].example["messages"][2]["weight"] == 0
    assert not at.exception


def test_conversation_undo_and_json_save_stick() -> None:
    """The turn boxes once wrote their old text back a run after an undo or a JSON save, undoing it silently."""
    dataset = load_sample()
    row = dataset_store.rows(dataset.id)[0]
    original = row.example["messages"][2]["content"]
    at = open_page("pages/conversation.py")
    at.text_area(key=conversation_key(dataset.id, row.id, "2_text")).input("An edited answer").run()
    button(at, "Undo").click().run()
    at.run()  # the next run (any click) must not write the edit back
    assert dataset_store.rows(dataset.id)[0].example["messages"][2]["content"] == original
    newest = dataset_versions.versions(dataset.id)[0]  # newest first
    assert newest.undoes is not None, f"the newest version is {newest.summary!r}, not the undo"
    assert at.text_area(key=conversation_key(dataset.id, row.id, "2_text")).value == original

    edited = dict(row.example, messages=[*row.example["messages"][:2], {"role": "assistant", "content": "JSON"}])
    version_id = dataset_store.get_dataset(dataset.id).version_id
    at.text_area(key=f"conversation_json_{row.id}_{version_id}").input(json.dumps(edited))
    button(at, "Save JSON").click().run()
    at.run()
    assert dataset_store.rows(dataset.id)[0].example["messages"][2]["content"] == "JSON"
    assert dataset_versions.versions(dataset.id)[0].summary == "Edited row 1 as JSON"
    assert not at.exception


def test_conversation_json_editor_refuses_bad_json_and_keeps_the_example() -> None:
    dataset = load_sample()
    before = dataset_store.rows(dataset.id)[0]
    at = open_page("pages/conversation.py")
    at.text_area(key=f"conversation_json_{before.id}_{dataset.version_id}").input("{broken")
    button(at, "Save JSON").click().run()
    assert "Not valid JSON" in at.error[0].value and dataset_store.rows(dataset.id)[0] == before


def test_history_shows_versions_and_restores_one() -> None:
    dataset = load_sample()
    first_version = dataset_versions.versions(dataset.id)[0]
    dataset_store.delete_rows(dataset.id, [r.id for r in dataset_store.rows(dataset.id)[:5]])
    at = open_page("pages/history.py")
    at.selectbox(key="history_version").select(first_version.id).run()
    button(at, f"Restore version {first_version.number}").click().run()
    assert len(dataset_store.rows(dataset.id)) == 40 and not at.exception


def test_pages_without_a_dataset_point_to_the_datasets_screen() -> None:
    for page in ("pages/examples.py", "pages/conversation.py", "pages/history.py"):
        at = open_page(page)
        assert "no dataset yet" in at.info[0].value


def test_costs_screen_totals_flags_links_and_saves_prices() -> None:
    dataset = load_sample()
    long_answer = "oxygen " * 20_000  # o200k: well over 16,385 tokens
    dataset_store.add_rows(dataset.id, [NewRow(single_turn("Elle", "Tell me everything", long_answer))])
    at = open_page("pages/costs.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Examples"] == "37" and metrics["Epochs"] == "3"  # Train's rows: 4 of 41 held out for validation
    assert "the 37 training rows of 41 that Train starts with: all but rejected" in at.caption[0].value
    assert not at.warning  # gpt-4o-mini allows 65,536 tokens per example
    local = next(c.value for c in at.caption if "Local provider" in c.value)
    expected = estimate.training_estimate(int(metrics["Tokens"].replace(",", "")), n_epochs=3, batch_size=1)
    assert expected.seconds > 60 and not expected.measured_here  # no local jobs yet: the benchmark's figures
    said = f"about **{estimate.rough_duration(expected.seconds)}** from launch to tuned model for 3 epochs at "
    assert said + f"{expected.tokens_per_second:,.0f} tokens/s (measured on a 2-core machine" in local
    at.selectbox(key="costs_model").select("gpt-3.5-turbo-0125").run()
    assert "1 example is longer" in at.warning[0].value
    assert (
        at.number_input(key="costs_row_gpt-3.5-turbo-0125").value == 41
    )  # the first row over the limit, ready to open
    button(at, "Show this row in Examples").click().run()
    assert not at.exception and at.session_state["examples_focus"] == 41
    assert "Showing row 41 only." in at.info[0].value

    at = open_page("pages/costs.py")
    at.number_input(key="costs_epochs").set_value(2).run()
    cost = next(m.value for m in at.metric if m.label == "Training cost")
    key = f"costs_prices_{at.session_state['costs_prices_generation']}"
    mini = next(i for i, m in enumerate(pricing.models()) if m == "gpt-4o-mini-2024-07-18")
    at.session_state[key] = {"edited_rows": {mini: {"training": 30.0}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert pricing.models(price_store.price_overrides())["gpt-4o-mini-2024-07-18"].training == 30.0
    assert next(m.value for m in at.metric if m.label == "Training cost") != cost  # ten times the price
    shot = next(m.value for m in at.metric if m.label == "Training repaid after")
    assert shot.endswith("requests") or shot == "never"


def test_sidebar_says_whether_the_local_provider_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page()
    assert "**Local provider**: stopped" in at.sidebar.markdown[0].value
    with running_server(tiny_settings(tmp_path / "local", start_worker=False)) as url:
        monkeypatch.setenv("STUDIO_LOCAL_URL", url)
        at = open_page()
        assert "**Local provider**: ready" in at.sidebar.markdown[0].value


class _WebPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>Some other program</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("answer", ["a web page", "a list of strings"])
def test_another_program_on_the_local_servers_port_is_named_not_a_traceback(
    answer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = _WebPage
    if answer == "a list of strings":  # JSON, but not models

        class _Strings(_WebPage):
            def do_GET(self) -> None:
                body = json.dumps({"object": "list", "data": ["x", "y"]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        handler = _Strings
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        monkeypatch.setenv("STUDIO_LOCAL_URL", url)
        assert not local_client.answers()
        at = open_page()
        assert not at.exception
        assert "**Local provider**: stopped" in at.sidebar.markdown[0].value
        assert f"Another program answers at {url}, not the local server." in at.sidebar.caption[0].value
    finally:
        server.shutdown()


def test_sidebar_explains_what_to_install_without_the_local_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_client, "LOCAL_PACKAGES", ("torch", "a_package_that_is_not_installed"))
    at = open_page()
    assert "**Local provider**: not installed" in at.sidebar.markdown[0].value
    assert "pip install -r requirements-local.txt" in at.sidebar.caption[0].value


def test_the_chosen_dataset_survives_moving_between_pages() -> None:
    first = dataset_store.create_dataset("A first")
    second = dataset_store.create_dataset("B second")
    dataset_store.add_rows(first.id, [NewRow(single_turn("", "q", "a"))])
    at = open_page("pages/examples.py")
    assert at.sidebar.selectbox(key="sidebar_dataset").value == first.id  # the first by name, to begin with
    at.sidebar.selectbox(key="sidebar_dataset").set_value(second.id).run()
    assert at.title[0].value.endswith("B second")
    at.switch_page("pages/scorecard.py").run()  # a page without the dataset chooser
    at.switch_page("pages/history.py").run()
    assert not at.exception and at.sidebar.selectbox(key="sidebar_dataset").value == second.id
    at.switch_page("pages/examples.py").run()
    assert at.sidebar.selectbox(key="sidebar_dataset").value == second.id and at.title[0].value.endswith("B second")
