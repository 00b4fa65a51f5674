"""No request the local server's typed models can be sent gives a 500: hypothesis writes the bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.local_server import running_server, tiny_settings
from tests.tiny_model import TINY

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
CONTENT = st.text(max_size=12) | JSON | st.lists(st.fixed_dictionaries({"type": JSON, "text": JSON}), max_size=2)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "developer"]) | JSON, "content": CONTENT},
    optional={"name": JSON, "weight": JSON},
)
CHAT = st.fixed_dictionaries(
    {"model": st.just(TINY) | st.text(max_size=6), "messages": st.lists(MESSAGE, max_size=3) | JSON},
    optional={
        "max_tokens": st.integers(-3, 3) | JSON, "max_completion_tokens": st.integers(-3, 3) | JSON,
        "temperature": st.floats(-1, 3) | JSON, "top_p": st.floats(-1, 2) | JSON, "seed": st.integers() | JSON,
        "stop": JSON, "n": JSON, "stream": st.booleans() | JSON, "stream_options": JSON,
    },
)  # fmt: skip
JOB = st.fixed_dictionaries(
    {"model": st.just(TINY) | JSON, "training_file": st.text(max_size=8) | JSON},
    optional={"suffix": JSON, "seed": JSON, "hyperparameters": JSON, "method": JSON, "validation_file": JSON},
)


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx2.Client]:
    server = tiny_settings(tmp_path_factory.mktemp("fuzz"), start_worker=False)
    with running_server(server) as url, httpx2.Client(base_url=url, timeout=60) as client:
        yield client


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=CHAT)
def test_no_chat_request_is_a_500(http: httpx2.Client, body: dict[str, Any]) -> None:
    answer = http.post("/chat/completions", json=body)
    assert answer.status_code < 500, (body, answer.text)
    if answer.status_code >= 400:
        assert set(answer.json()["error"]) == {"message", "type", "param", "code"}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JOB, limit=st.integers() | st.text(max_size=4), after=st.text(max_size=6))
def test_no_job_or_list_request_is_a_500(http: httpx2.Client, body: dict[str, Any], limit: Any, after: str) -> None:
    assert http.post("/fine_tuning/jobs", json=body).status_code < 500, body
    for path in ("/fine_tuning/jobs", "/files"):
        assert http.get(path, params={"limit": str(limit), "after": after}).status_code < 500, (path, limit, after)
