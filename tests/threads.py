"""Run the same work in several threads at once, as several people would."""

import threading
from collections.abc import Callable


def at_once(work: Callable[[int], object], n: int) -> list[Exception]:
    """Call ``work(0)`` … ``work(n - 1)`` in n threads started together; the exceptions they raised."""
    errors: list[Exception] = []

    def guarded(k: int) -> None:
        try:
            work(k)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
