"""Many requests at once, bounded: a remote provider answers them side by side, so a run of 100 answers waits on
about 100 / ``at_once`` answer times instead of 100. The local server decodes up to 8 answers of one model together
(lib/local/batching.py) and one model's batch at a time, so it is sent 8 at once. An OpenAI-compatible server is
asked one at a time: it may be a small one of unknown capacity.

A worker may keep what it made itself (an answer saved to the store is kept even when the caller stops), or hand
it to the caller, who receives each result in its own thread as it arrives. When the caller stops or one request
fails, no new request starts; those already under way finish in the background.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import islice
from typing import TypeVar

from lib.train.providers import ProviderConfig

AT_ONCE = 4  # requests in flight to OpenAI or Azure: most rate limits allow it
LOCAL_AT_ONCE = 8  # requests in flight to the local server: the answers its llama.cpp decodes together

Task = TypeVar("Task")
Result = TypeVar("Result")


def at_once_for(config: ProviderConfig) -> int:
    """How many requests a provider is sent at once: several to OpenAI, Azure and the local server, one to another
    OpenAI-compatible server."""
    if config.kind == "local":
        return LOCAL_AT_ONCE
    return AT_ONCE if config.kind in ("openai", "azure") else 1


def run_bounded(
    tasks: Iterable[Task],
    work: Callable[[Task], Result],
    arrived: Callable[[int, Result], object] = lambda done, result: None,
    at_once: int = AT_ONCE,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """``work(task)`` for every task, at most ``at_once`` at a time; ``arrived(n, result)`` after the n-th
    finishes. ``arrived`` and ``stop`` run in the caller's thread (a screen can show progress, keep results in its
    session and read its stop button); once ``stop()`` says so, no new task starts. Raises the first error a task
    raised. Returns how many finished."""
    todo = iter(tasks)
    pool = ThreadPoolExecutor(max_workers=max(1, at_once), thread_name_prefix="request")
    done = 0
    try:
        first = [] if stop() else list(islice(todo, max(1, at_once)))
        running: set[Future[Result]] = {pool.submit(work, task) for task in first}
        while running:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                result = future.result()
                done += 1
                arrived(done, result)
            if not stop():
                running |= {pool.submit(work, task) for task in islice(todo, len(finished))}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return done


class Abandoned(Exception):
    """Raised in a streaming request's thread once its caller has stopped waiting for it."""


def stream_together(
    tasks: Sequence[Task],
    work: Callable[[Task, Callable[[str], object]], Result],
    on_text: Callable[[int, str], object],
    at_once: int = AT_ONCE,
    every_s: float = 0.1,
) -> list[Result]:
    """``work(task, grew)`` for every task, at most ``at_once`` at a time, each streaming its answer through
    ``grew(text so far)``. ``on_text(i, text)`` runs in the caller's thread (a screen can write to its boxes from
    there only), with "" once task i has started (if it has no text yet), then with its text as it grows, at most
    every ``every_s`` seconds.
    Returns the results in the tasks' order once all are done; raises the error of the first task that failed.
    If ``on_text`` raises (a screen stopped or rerun), that error is raised at once: the requests under way end at
    their next piece (``grew`` raises Abandoned in them) and those not started never start."""
    latest: dict[int, str] = {}  # one writer per key; a dict's item assignment is atomic
    abandoned = threading.Event()

    def run(i: int) -> Result:
        def grew(text: str) -> None:
            if abandoned.is_set():
                raise Abandoned
            latest[i] = text

        latest[i] = ""
        return work(tasks[i], grew)

    shown: dict[int, str] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, at_once), thread_name_prefix="request")
    try:
        futures = [pool.submit(run, i) for i in range(len(tasks))]
        while True:
            finished, _ = wait(futures, timeout=every_s)
            for i, text in list(latest.items()):
                if shown.get(i) != text:
                    shown[i] = text
                    on_text(i, text)
            if len(finished) == len(futures):
                return [future.result() for future in futures]
    finally:
        abandoned.set()  # all done, or the caller left early: nothing more is streamed to it
        pool.shutdown(wait=False, cancel_futures=True)
