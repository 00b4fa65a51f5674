"""Answers asked several at a time: never more than the bound, each kept as it arrives, the first error raised."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx2
import openai
import pytest

from lib.db import run_store
from lib.judge import evaluation
from lib.judge.in_parallel import run_bounded, stream_together
from lib.judge.prompts import eval_file_prompts
from lib.judge.run import Contender, RunSettings
from lib.train.providers import ProviderConfig, ProviderError


def test_no_more_than_the_bound_run_at_once_and_every_task_is_done_once() -> None:
    lock, now, most, seen = threading.Lock(), [0], [0], []

    def work(task: int) -> None:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.02)
        with lock:
            now[0] -= 1
            seen.append(task)

    arrived: list[int] = []
    assert run_bounded(range(20), work, lambda n, _: arrived.append(n), at_once=3) == 20
    assert sorted(seen) == list(range(20)) and most[0] == 3 and arrived == list(range(1, 21))


def test_the_first_error_is_raised_and_no_new_task_starts_after_it() -> None:
    started: list[int] = []

    def work(task: int) -> None:
        started.append(task)
        if task == 2:
            raise ProviderError("The provider refused.")
        time.sleep(0.01)

    with pytest.raises(ProviderError, match="refused"):
        run_bounded(range(100), work, at_once=2)
    assert len(started) < 10  # stopped early, not after the hundred


def test_streamed_answers_grow_together_and_are_shown_from_the_callers_thread() -> None:
    caller, lock, now, most = threading.get_ident(), threading.Lock(), [0], [0]

    def work(word: str, grew: Any) -> str:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        text = ""
        for letter in word:
            text += letter
            grew(text)
            time.sleep(0.03)
        with lock:
            now[0] -= 1
        return text.upper()

    shown: dict[int, list[str]] = {}
    threads: set[int] = set()

    def on_text(index: int, text: str) -> None:
        threads.add(threading.get_ident())
        shown.setdefault(index, []).append(text)

    start = time.perf_counter()
    results = stream_together(["neon", "argon", "xenon"], work, on_text, at_once=3, every_s=0.01)
    assert results == ["NEON", "ARGON", "XENON"]
    assert time.perf_counter() - start < 0.3  # together, not one after another (3 x 5 x 0.03 s = 0.45 s)
    assert most[0] == 3 and threads == {caller}
    for index, word in enumerate(["neon", "argon", "xenon"]):
        assert shown[index][-1] == word and len(shown[index]) > 2  # seen while it grew, not only at the end
        assert all(word.startswith(text) for text in shown[index])
        assert [len(text) for text in shown[index]] == sorted({len(text) for text in shown[index]})  # each once


def test_streaming_keeps_to_its_bound_and_raises_a_failed_answers_error_after_the_others() -> None:
    finished: list[str] = []

    def work(word: str, grew: Any) -> str:
        if word == "bad":
            raise ProviderError("The provider refused.")
        time.sleep(0.05)
        finished.append(word)
        return word

    with pytest.raises(ProviderError, match="refused"):
        stream_together(["neon", "bad", "argon"], work, lambda i, t: None, at_once=1)
    assert finished == ["neon", "argon"]  # one at a time, in order; the others were not lost


def test_a_screen_that_stops_while_answers_stream_is_not_kept_waiting_for_them() -> None:
    pieces: list[str] = []

    def work(word: str, grew: Any) -> str:
        for n in range(100):  # 100 pieces, 5 s in all, unless the caller leaves
            time.sleep(0.05)
            pieces.append(word)
            grew(f"{word} {n}")
        return word

    class Stopped(Exception):  # as Streamlit raises in a script whose run is stopped or rerun
        pass

    def on_text(index: int, text: str) -> None:
        if text.endswith(" 2"):
            raise Stopped

    start = time.perf_counter()
    with pytest.raises(Stopped):
        stream_together(["neon", "argon", "xenon"], work, on_text, at_once=2, every_s=0.01)
    assert time.perf_counter() - start < 1  # not the 5 s the answers would take
    time.sleep(0.2)
    assert len(pieces) < 20 and "xenon" not in pieces  # those under way ended, the one waiting never started


class SlowClient:
    """Answers after a fixed delay, like a remote provider; counts requests in flight."""

    def __init__(self, delay: float) -> None:
        self.delay, self.lock, self.now, self.most = delay, threading.Lock(), 0, 0
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, **request: Any) -> Any:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(self.delay)
        with self.lock:
            self.now -= 1
        question = request["messages"][-1]["content"]
        message = SimpleNamespace(content=f"{request['model']}: {question}")
        usage = SimpleNamespace(prompt_tokens=10, completion_tokens=5)
        return SimpleNamespace(choices=[SimpleNamespace(message=message)], usage=usage)


class FakeStream:
    """An SDK stream: iterated for its chunks, closed by ``with`` (which ends the HTTP response)."""

    def __init__(self, chunks: Iterator[Any]) -> None:
        self.chunks, self.closed = chunks, False

    def __iter__(self) -> Iterator[Any]:
        return self.chunks

    def __enter__(self) -> FakeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True


class StreamingClient:
    """Streams its answer word by word, slowly; a model named "refuses" answers with an error, as a provider would."""

    def __init__(self) -> None:
        self.lock, self.now, self.most = threading.Lock(), 0, 0
        self.streams: list[FakeStream] = []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, **request: Any) -> Any:
        if request["model"] == "refuses":
            raise openai.APIConnectionError(request=httpx2.Request("POST", "https://api.openai.com/v1/chat"))
        self.streams.append(FakeStream(self.chunks(request)))
        return self.streams[-1]

    def chunks(self, request: dict[str, Any]) -> Iterator[Any]:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        for word in f"{request['model']} says {request['messages'][-1]['content']}".split():
            time.sleep(0.06)
            delta = SimpleNamespace(content=word + " ")
            yield SimpleNamespace(choices=[SimpleNamespace(delta=delta)], usage=None)
        with self.lock:
            self.now -= 1
        yield SimpleNamespace(choices=[], usage=SimpleNamespace(prompt_tokens=10, completion_tokens=5))


def test_compare_asks_its_contenders_together_and_a_failed_one_keeps_the_others() -> None:
    config, client = ProviderConfig("openai", "sk-test"), StreamingClient()
    contenders = [Contender("a", "gpt-4o-mini"), Contender("b", "refuses"), Contender("c", "gpt-4.1-mini")]
    asks = [(contender, [{"role": "user", "content": "Tell me about neon."}]) for contender in contenders]
    shown: dict[int, list[str]] = {}
    grew = lambda i, text: shown.setdefault(i, []).append(text)  # noqa: E731
    found = evaluation.ask_side_by_side(client, config, asks, RunSettings(), grew)  # type: ignore[arg-type]
    assert isinstance(found[0], evaluation.Answer) and found[0].text == "gpt-4o-mini says Tell me about neon. "
    assert isinstance(found[2], evaluation.Answer) and found[2].text == "gpt-4.1-mini says Tell me about neon. "
    assert found[0].completion_tokens == 5
    assert isinstance(found[1], ProviderError)  # said in its own column; the other two answered
    assert client.most == 2  # the two that answer were streamed at the same time
    assert shown[0][-1] == found[0].text and len(shown[0]) > 2  # seen growing in its column


def test_compare_stopped_while_answering_closes_the_answers_streams() -> None:
    config, client = ProviderConfig("openai", "sk-test"), StreamingClient()
    asks = [(Contender(m, m), [{"role": "user", "content": "Tell me about neon."}]) for m in ("gpt-4o-mini", "o3")]

    def on_text(index: int, text: str) -> None:
        if text:
            raise KeyboardInterrupt  # what a stopped screen raises at its next write

    with pytest.raises(KeyboardInterrupt):
        evaluation.ask_side_by_side(client, config, asks, RunSettings(), on_text)  # type: ignore[arg-type]
    time.sleep(0.2)  # each ends at its next piece
    assert len(client.streams) == 2 and all(stream.closed for stream in client.streams)


def test_a_run_asks_its_answers_four_at_a_time_and_each_lands_on_its_item_and_contender() -> None:
    config = ProviderConfig("openai", "sk-test")
    contenders = [Contender("a", "gpt-4o-mini"), Contender("b", "gpt-4.1-mini")]
    prompts = eval_file_prompts()[:8]
    run = evaluation.create_run("r", config, "eval", prompts, contenders, RunSettings())
    client = SlowClient(0.1)
    seen: list[int] = []
    start = time.perf_counter()
    assert evaluation.generate(run, client, config, lambda done, total: seen.append(done)) == 16  # type: ignore[arg-type]
    took = time.perf_counter() - start
    assert client.most == 4 and took < 16 * 0.1 / 2  # one at a time would take 1.6 s
    assert seen == list(range(1, 17))
    items = run_store.run_items(run.id)
    for answer in run_store.run_answers(run.id):
        model = next(c.model for c in contenders if c.label == answer.contender)
        assert answer.text == f"{model}: {items[answer.position][-1]['content']}"  # its own question and model


def test_openai_and_azure_are_asked_four_at_a_time_the_local_server_eight_another_server_one() -> None:
    from lib.judge.in_parallel import AT_ONCE, LOCAL_AT_ONCE, at_once_for

    assert at_once_for(ProviderConfig("openai", "sk-test")) == at_once_for(ProviderConfig("azure")) == AT_ONCE == 4
    assert at_once_for(ProviderConfig("local")) == LOCAL_AT_ONCE == 8  # the answers the local server decodes together
    assert at_once_for(ProviderConfig("compatible")) == 1
