"""llama.cpp in a process the server can lose: the client side of lib/local/llama_child.py.

A child that dies (llama.cpp's native code can fault on a CPU it was not built for) costs the answer in
progress, never the server: ``DecoderDiedError`` says how it ended, and the engine then decodes with PyTorch.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lib.local.config import PROJECT_DIR


class DecoderDiedError(RuntimeError):
    """The llama.cpp process died while answering: this answer fails, the server goes on with PyTorch."""


def _how_it_ended(returncode: int | None) -> str:
    if returncode is None:
        return "it stopped answering"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def llama_command(path: Path, *extra: str, child: Sequence[str] | None = None) -> list[str]:
    """The command that runs llama.cpp on ``path`` in a child process (``child`` replaces the module, for tests)."""
    module = list(child) if child else [sys.executable, "-m", "lib.local.llama_child"]
    return [*module, str(path), "--threads", str(os.cpu_count() or 1), *extra]


def llama_selftest(path: Path, child: Sequence[str] | None = None, timeout: float = 300) -> str | None:
    """Load ``path`` with llama.cpp and decode a few tokens in a child process: None if it works, else why not."""
    try:
        done = subprocess.run(
            llama_command(path, "--selftest", child=child),
            cwd=PROJECT_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return f"it did not finish in {timeout:.0f} s"
    if done.returncode == 0:
        return None
    said = done.stderr.decode(errors="replace").strip().splitlines()
    return _how_it_ended(done.returncode) + (f": {said[-1]}" if said and done.returncode > 0 else "")


def kept_prefix(cached: list[int], ids: list[int]) -> int:
    """How much of a cache of ``cached`` serves ``ids``: their shared beginning, less at least one token of ``ids``
    computed again for its logits."""
    pairs = enumerate(zip(cached, ids, strict=False))
    return min(next((i for i, (old, new) in pairs if old != new), len(cached)), len(ids) - 1)


class CachedSequence:
    """One sequence of a llama.cpp child seen as a decoder (see serving.Decoder): ``start`` keeps the cache of the
    prefix it shares with the previous ids, ``step`` appends a token. ``submit(keep, add)`` has the child keep that
    many cached tokens, append ``add`` and return the next token's logits."""

    def __init__(self, context: int, submit: Callable[[int, list[int]], torch.Tensor]) -> None:
        self.context, self._submit = context, submit
        self.cached: list[int] = []  # what the child holds for this sequence

    def start(self, ids: list[int]) -> torch.Tensor:
        keep = kept_prefix(self.cached, ids)
        logits = self._submit(keep, ids[keep:])
        self.cached = list(ids)
        return logits

    def step(self, token: int) -> torch.Tensor:
        logits = self._submit(len(self.cached), [token])
        self.cached.append(token)
        return logits


class LlamaCppDecoder:
    """One llama.cpp model in a child process (see llama_child.py), decoding up to ``sequences`` sequences in one
    batch (``batch``; the server's answers go through lib.local.batching). ``start``/``step`` decode sequence 0
    for a caller that uses the child alone (benchmarks, tests).

    If the child dies, the answers in progress raise DecoderDiedError and ``on_death`` hears why.
    """

    def __init__(
        self, path: Path, on_death: Callable[[str], None] | None = None, child: Sequence[str] | None = None
    ) -> None:
        self.path, self.on_death = path, on_death
        self.process = subprocess.Popen(
            llama_command(path, child=child), cwd=PROJECT_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self._pipe = threading.Lock()  # one request at a time on the pipe
        hello = json.loads(self._frame(b"H"))
        self.context, self.vocab, self.sequences = int(hello["context"]), int(hello["vocab"]), int(hello["sequences"])
        self._alone = CachedSequence(self.context, lambda keep, add: self.batch([(0, keep, add)])[0])  # start/step

    def _frame(self, expected: bytes) -> bytes:
        assert self.process.stdout is not None
        head = self.process.stdout.read(5)
        if len(head) == 5:
            kind, size = head[:1], struct.unpack("<I", head[1:])[0]
            payload = self.process.stdout.read(size)
            if len(payload) == size:
                if kind == b"E":
                    raise RuntimeError(f"llama.cpp failed: {payload.decode(errors='replace')}")
                if kind == expected:
                    return payload
        self.process.kill()
        reason = f"llama.cpp stopped while answering ({_how_it_ended(self.process.wait())})"
        if self.on_death is not None:
            self.on_death(reason)
        raise DecoderDiedError(reason)

    def _ask(self, request: dict[str, Any]) -> torch.Tensor:
        assert self.process.stdin is not None
        with self._pipe:
            try:
                self.process.stdin.write(json.dumps(request).encode() + b"\n")
                self.process.stdin.flush()
            except OSError:
                pass  # the child is gone: reading its answer says how
            logits = np.frombuffer(self._frame(b"L"), dtype="<f4")
        return torch.from_numpy(logits.copy())

    def batch(self, entries: list[tuple[int, int, list[int]]]) -> list[torch.Tensor]:
        """Each entry (sequence, tokens of its cache kept, token ids appended): the next token's logits of each
        entry that appends ids, in order."""
        logits = self._ask({"batch": entries})
        return list(logits.reshape(-1, self.vocab)) if len(logits) else []

    def reset(self) -> None:
        """Forget every cached prompt (benchmarks time a cold start)."""
        self._ask({"reset": True})
        self._alone.cached = []

    def start(self, ids: list[int]) -> torch.Tensor:
        """Sequence 0 from ``ids``: the cache of the longest prefix it shares with the previous ones is kept."""
        return self._alone.start(ids)

    def step(self, token: int) -> torch.Tensor:
        return self._alone.step(token)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
