"""Many requests at once, bounded: a remote provider answers them side by side, so a run of 100 answers waits on
about 100 / ``at_once`` answer times instead of 100. The local server takes them in turn.

Each result is handled (saved) by the worker that made it, so an answer already paid for is kept even when the
caller stops; the caller counts them as they arrive. When the caller stops or one request fails, no new request
starts; those already under way finish in the background.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import islice
from typing import TypeVar

AT_ONCE = 4  # requests in flight: most providers' rate limits allow it, and it is polite to a shared server

Task = TypeVar("Task")


def run_bounded(
    tasks: Iterable[Task],
    work: Callable[[Task], object],
    arrived: Callable[[int], object] = lambda done: None,
    at_once: int = AT_ONCE,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """``work(task)`` for every task, at most ``at_once`` at a time; ``arrived(n)`` after the n-th finishes. Both
    callbacks and ``stop`` run in the caller's thread (a screen can show progress and read its stop button); once
    ``stop()`` says so, no new task starts. Raises the first error a task raised. Returns how many finished."""
    todo = iter(tasks)
    pool = ThreadPoolExecutor(max_workers=max(1, at_once), thread_name_prefix="request")
    done = 0
    try:
        first = [] if stop() else list(islice(todo, max(1, at_once)))
        running: set[Future[object]] = {pool.submit(work, task) for task in first}
        while running:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()
                done += 1
                arrived(done)
            if not stop():
                running |= {pool.submit(work, task) for task in islice(todo, len(finished))}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return done
