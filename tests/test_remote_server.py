"""A Tuning Studio server on another machine (a GPU box behind a proxy): never open without a key, reached by
its public name, and used from the app as an OpenAI-compatible provider."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

from lib import cli
from lib.judge import evaluation
from lib.judge.run import Contender, RunSettings
from lib.settings import PROJECT_DIR
from lib.train import providers
from lib.train.providers import ProviderConfig
from tests.local_server import running_server, tiny_settings
from tests.tiny_model import TINY


def test_the_server_refuses_a_network_address_without_a_key(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lib.local", "--host", "0.0.0.0", "--port", "9"],
        capture_output=True, text=True, cwd=PROJECT_DIR, timeout=120,
        env={"STUDIO_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("Refusing to listen on 0.0.0.0 without an API key")


def test_a_remote_server_answers_its_public_name_with_its_key_only(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path / "local", start_worker=False, api_key="s3cret",
                             public_hosts=("studio.example.org",))  # fmt: skip
    with running_server(settings) as url:

        def get(host: str, key: str | None) -> httpx2.Response:
            headers = {"Host": host} | ({"Authorization": f"Bearer {key}"} if key else {})
            return httpx2.get(f"{url}/models", headers=headers, timeout=30)

        assert get("studio.example.org", "s3cret").status_code == 200
        assert get("STUDIO.example.org:443", "s3cret").status_code == 200  # any case, with the proxy's port
        assert get("studio.example.org", None).status_code == 401
        assert get("studio.example.org", "wrong").status_code == 401
        assert get("other.example.org", "s3cret").status_code == 403
        assert get("studio.example.org.evil.com", "s3cret").status_code == 403


def test_another_tuning_studio_server_is_an_openai_compatible_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable in ("STUDIO_COMPATIBLE_URL", "STUDIO_COMPATIBLE_API_KEY"):  # the command sets them in this process:
        monkeypatch.setenv(variable, "")  # recorded here, so they are unset again after the test
        monkeypatch.delenv(variable)
    settings = tiny_settings(tmp_path / "remote", start_worker=False, api_key="s3cret")
    with running_server(settings) as url:
        config = ProviderConfig("compatible", "s3cret", endpoint=url)
        client = providers.make_client(config)
        assert TINY in providers.chat_models(client, config) and providers.serves_fine_tuning(client, config)
        assert TINY in providers.base_models(client, config)
        monkeypatch.setenv("REMOTE_KEY", "s3cret")
        code = cli.main(["ask", "--provider", "compatible", "--base-url", url, "--api-key-env", "REMOTE_KEY",
                         "--model", TINY, "--user", "Tell me about neon.", "--max-tokens", "3", "--json"])  # fmt: skip
        out, err = capsys.readouterr()
        assert code == 0, err
        assert json.loads(out)["completion_tokens"] == 3
        monkeypatch.delenv("STUDIO_COMPATIBLE_URL")
        assert cli.main(["ask", "--provider", "compatible", "--model", TINY, "--user", "Hi"]) == 2  # no --base-url
        assert "--provider compatible needs --base-url" in capsys.readouterr().err


def test_a_chat_only_server_without_usage_or_seed_answers_and_offers_no_fine_tuning() -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/fine_tuning/jobs"):
            return httpx2.Response(404, text="404 page not found")  # not OpenAI's error shape
        if request.url.path.endswith("/models"):
            model = {"id": "llama3", "object": "model", "created": 0, "owned_by": "ollama"}
            return httpx2.Response(200, json={"object": "list", "data": [model]})
        body = json.loads(request.content)
        if "seed" in body:
            return httpx2.Response(400, json={"error": "unknown parameter: seed"})
        choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Neon glows."}}
        return httpx2.Response(
            200, json={"id": "x", "object": "chat.completion", "created": 0, "model": "llama3", "choices": [choice]}
        )  # no usage

    config = ProviderConfig("compatible", endpoint="http://ollama.test/v1")
    client = providers.make_client(config, http_client=httpx2.Client(transport=httpx2.MockTransport(answer)))
    assert providers.chat_models(client, config) == ["llama3"]
    assert not providers.serves_fine_tuning(client, config)
    found = evaluation.ask(client, config, Contender("llama", "llama3"), [{"role": "user", "content": "Neon?"}],
                           RunSettings())  # fmt: skip
    assert found.text == "Neon glows." and (found.prompt_tokens, found.completion_tokens) == (0, 0)


def _openai_settings() -> None:
    from lib.train.providers import ProviderConfig as Config
    from lib.ui.provider import _remote_settings

    _remote_settings(Config("openai"))


def test_choosing_openai_says_its_fine_tuning_is_closing_and_what_keeps_working() -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_openai_settings, default_timeout=30)
    at.run()
    [warning] = at.warning
    assert "from 2027-01-06 no organisation can create new fine-tuning jobs" in warning.value
    assert "https://platform.openai.com/docs/deprecations" in warning.value
    assert "**Local**" in warning.value and "OpenAI-compatible server" in warning.value and "Azure" in warning.value
