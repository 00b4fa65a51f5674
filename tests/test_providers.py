"""Provider configuration and errors: each failure the SDK can raise becomes one clear message (fake transport)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx2
import pytest

from lib.curate.import_export import load_sample
from lib.db import dataset_store, provenance_store
from lib.errors import DatasetError
from lib.train import launch, providers
from lib.train.launch import LaunchSettings
from lib.train.providers import ProviderConfig, ProviderError
from tests.test_training import job

OPENAI = ProviderConfig("openai", "sk-test-key-1234567890")
AZURE = ProviderConfig("azure", "azure-key-0987654321", "typed", "https://elle.openai.azure.com", "2025-04-01-preview")


def fake(handler: Callable[[httpx2.Request], httpx2.Response], calls: list[httpx2.Request]) -> httpx2.Client:
    def counting(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        return handler(request)

    return httpx2.Client(transport=httpx2.MockTransport(counting))


def error(status: int, message: str, code: str | None = None) -> httpx2.Response:
    body = {"error": {"message": message, "type": "error", "param": None, "code": code}}
    return httpx2.Response(status, json=body, headers={"retry-after-ms": "1"})  # retry at once in tests


def failure(config: ProviderConfig, handler: Callable[[httpx2.Request], httpx2.Response]) -> tuple[str, int]:
    """The message a models.list call ends with, and how many requests were made."""
    calls: list[httpx2.Request] = []
    client = providers.make_client(config, http_client=fake(handler, calls))
    with pytest.raises(ProviderError) as raised:
        providers.check_connection(client, config)
    return str(raised.value), len(calls)


def test_wrong_key_is_one_clear_message_without_retrying() -> None:
    message, calls = failure(OPENAI, lambda r: error(401, "Incorrect API key provided: sk-tes***7890."))
    assert message == "OpenAI refused the API key (401). Check the key in the sidebar and try again."
    assert calls == 1


def test_rate_limit_and_server_errors_are_retried_by_the_sdk_then_explained() -> None:
    message, calls = failure(OPENAI, lambda r: error(429, "Rate limit reached"))
    assert (message, calls) == (
        "OpenAI is rate-limiting this key (429) after retrying. Wait a minute and try again.",
        3,  # the SDK's two retries are kept
    )
    message, calls = failure(AZURE, lambda r: error(503, "Service unavailable"))
    assert message.startswith("Azure OpenAI had a server error (503)") and "try again in a few minutes" in message
    assert calls == 3


def test_out_of_credit_is_not_called_a_rate_limit() -> None:
    message, _ = failure(OPENAI, lambda r: error(429, "You exceeded your current quota", "insufficient_quota"))
    assert message == "OpenAI says the account is out of credit (429). Add credit, then try again."


def test_connection_refused_and_timeouts() -> None:
    def refused(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("Connection refused", request=request)

    def slow(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    message, calls = failure(AZURE, refused)
    assert message.startswith("Could not reach Azure OpenAI at https://elle.openai.azure.com.") and calls == 3
    assert failure(ProviderConfig("local"), refused)[0].startswith("The local server does not answer at http://")
    assert failure(OPENAI, slow)[0].startswith("OpenAI did not answer in time.")


def test_bad_request_names_the_provider_message() -> None:
    message, _ = failure(OPENAI, lambda r: error(400, "Model gpt-2 is not available for fine-tuning."))
    assert message == "OpenAI rejected the request (400): Model gpt-2 is not available for fine-tuning."


def test_missing_settings_are_named_before_any_call() -> None:
    with pytest.raises(ProviderError, match="Azure OpenAI needs its API key and endpoint: give them in the sidebar"):
        providers.make_client(ProviderConfig("azure", api_version="2025-04-01-preview"))


def test_settings_come_from_typed_values_then_secrets_then_the_environment() -> None:
    environ = {"OPENAI_API_KEY": "sk-from-environment", "AZURE_OPENAI_ENDPOINT": "https://env.openai.azure.com"}
    secrets = {"OPENAI_API_KEY": "sk-from-secrets"}
    assert providers.from_settings("openai", {}, {}, environ).key_source == "environment"
    assert providers.from_settings("openai", {}, secrets, environ).api_key == "sk-from-secrets"
    typed = providers.from_settings("openai", {"openai_key": " sk-typed "}, secrets, environ)
    assert (typed.api_key, typed.key_source) == ("sk-typed", "typed")
    azure = providers.from_settings("azure", {"azure_key": "k"}, {}, environ)
    assert (azure.endpoint, azure.api_version) == ("https://env.openai.azure.com", providers.DEFAULT_AZURE_API_VERSION)
    assert "sk-typed" not in repr(typed)  # a key never shows up in logs or tracebacks


def test_mask_shows_only_the_ends() -> None:
    assert providers.mask("sk-proj-abcdefghijklmnop1234") == "sk-…1234"
    assert providers.mask("short") == "•••••"
    assert providers.mask("") == "not set"


def test_azure_calls_go_to_the_deployment_api_with_its_key_header() -> None:
    calls: list[httpx2.Request] = []
    client = providers.make_client(AZURE, http_client=fake(lambda r: httpx2.Response(200, json={"data": []}), calls))
    assert providers.check_connection(client, AZURE) == "Azure OpenAI answers: 0 models available."
    [request] = calls
    assert str(request.url).startswith("https://elle.openai.azure.com/openai/models?api-version=2025-04-01-preview")
    assert request.headers["api-key"] == AZURE.api_key


def test_a_failed_upload_records_nothing_and_a_bad_dataset_uploads_nothing() -> None:
    dataset = load_sample()
    calls: list[httpx2.Request] = []
    client = providers.make_client(OPENAI, http_client=fake(lambda r: error(500, "boom"), calls))
    settings = LaunchSettings("gpt-4o-mini-2024-07-18")
    with pytest.raises(ProviderError, match="server error"):
        launch.launch(client, OPENAI, dataset, dataset_store.rows(dataset.id), settings)
    assert provenance_store.job_provenance("openai") == {}
    assert [(r.method, r.url.path) for r in calls] == [("POST", "/v1/files")] * 3  # upload tried, retried, stopped

    dataset_store.update_rows(dataset.id, {dataset_store.rows(dataset.id)[2].id: {"example": {"messages": []}}})
    calls.clear()
    with pytest.raises(DatasetError, match="1 error;"):
        launch.launch(client, OPENAI, dataset_store.get_dataset(dataset.id), dataset_store.rows(dataset.id), settings)
    assert calls == []


def test_launch_records_the_exact_training_and_validation_rows_and_the_estimate() -> None:
    dataset = load_sample()
    rows = dataset_store.rows(dataset.id)
    dataset_store.update_rows(dataset.id, {rows[0].id: {"status": "rejected"}})
    dataset = dataset_store.get_dataset(dataset.id)
    rows = dataset_store.rows(dataset.id)
    uploads: list[bytes] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/v1/files":
            uploads.append(request.content)
            file = {"id": f"file-{len(uploads)}", "object": "file", "bytes": 1, "created_at": 1,
                    "filename": "x.jsonl", "purpose": "fine-tune", "status": "processed"}  # fmt: skip
            return httpx2.Response(200, json=file)
        return httpx2.Response(200, json=job("ftjob-7", "validating_files").model_dump())

    client = providers.make_client(OPENAI, http_client=fake(answer, []))
    settings = LaunchSettings("gpt-4o-mini-2024-07-18", validation_fraction=0.2, seed=7)
    launch.launch(client, OPENAI, dataset, rows, settings, estimated_cost_usd=0.12)
    made = provenance_store.job_provenance("openai")["ftjob-7"]
    chosen = [row for row in rows if row.status != "rejected"]
    assert sorted(made.training_rows + made.validation_rows) == sorted(row.id for row in chosen)
    assert len(made.validation_rows) == 8 and rows[0].id not in made.training_rows + made.validation_rows
    by_id = {row.id: row for row in rows}
    lines = [line for line in uploads[1].decode().splitlines() if line.startswith('{"messages"')]  # multipart body
    uploaded_questions = [json.loads(line)["messages"][1]["content"] for line in lines]
    assert uploaded_questions == [by_id[i].example["messages"][1]["content"] for i in made.validation_rows]
    assert made.estimated_cost_usd == 0.12


def test_launch_uses_the_split_and_findings_the_screen_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """Train computes the split and checks the rows once per render: the launch records that split and re-checks
    nothing."""
    dataset = load_sample()
    rows = dataset_store.rows(dataset.id)
    settings = LaunchSettings("gpt-4o-mini-2024-07-18", validation_fraction=0.1)
    split = launch.training_split(launch.chosen_rows(rows, settings.examples), settings)

    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/v1/files":
            file = {"id": "file-1", "object": "file", "bytes": 1, "created_at": 1, "filename": "x.jsonl",
                    "purpose": "fine-tune", "status": "processed"}  # fmt: skip
            return httpx2.Response(200, json=file)
        return httpx2.Response(200, json=job("ftjob-8", "validating_files").model_dump())

    def checked_again(*args: object) -> None:
        raise AssertionError("the launch checked the rows again")

    monkeypatch.setattr(launch, "check_rows", checked_again)
    client = providers.make_client(OPENAI, http_client=fake(answer, []))
    launch.launch(client, OPENAI, dataset, rows, settings, split=split, findings=[])
    made = provenance_store.job_provenance("openai")["ftjob-8"]
    assert made.training_rows == tuple(row.id for row in split.training)
    assert made.validation_rows == tuple(row.id for row in split.validation) and len(made.validation_rows) == 4
