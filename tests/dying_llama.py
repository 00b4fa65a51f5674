"""A llama.cpp child (lib/local/llama_child.py) that kills itself with SIGILL, as llama.cpp's AMX path did.

``python -m tests.dying_llama selftest MODEL …`` dies in its self-test; ``python -m tests.dying_llama answer:N
MODEL …`` passes its self-test, then dies at its Nth request while answering.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
from typing import Any

from lib.local import llama_child


def die() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file left behind
    os.kill(os.getpid(), signal.SIGILL)


def main() -> int:
    when, args = sys.argv[1], sys.argv[2:]
    if "--selftest" in args:
        if when == "selftest":
            die()
        return llama_child.main(args)
    requests = 0

    def before(request: dict[str, Any]) -> None:
        nonlocal requests
        requests += 1
        if when.startswith("answer:") and requests >= int(when.split(":")[1]):
            die()

    return llama_child.main(args, before)


if __name__ == "__main__":
    sys.exit(main())
