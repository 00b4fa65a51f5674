"""python -m lib.local.llama_child MODEL.gguf [--threads N] [--selftest]: llama.cpp in a process of its own.

llama.cpp is native code built for some CPU; on another it can die of an illegal instruction (its AMX path
did on some AMX machines). The server therefore never loads it itself: it runs this child, which loads one
GGUF file and answers the server's requests over its stdin and stdout, and a child that dies costs one
answer, never the server. ``--selftest`` loads the file, decodes a few tokens and exits 0.

Requests are JSON lines: ``{"start": [ids]}`` (a new prompt; the cache of the longest prefix shared with the
previous one is kept), ``{"step": id}`` (one more token) or ``{"reset": true}`` (forget the cache). Each is
answered by one frame: a kind byte, a 4-byte little-endian length, the payload. Kinds: ``H`` (after loading:
JSON ``{"context", "vocab"}``), ``L`` (the next token's logits, float32; empty after a reset), ``E`` (an error
message, UTF-8). This module imports no torch.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

SELFTEST_PROMPT = [1, 2, 3, 4, 5, 6, 7, 8]  # any ids below the vocabulary size exercise the same kernels
SELFTEST_TOKENS = 8


class Child:
    """One llama.cpp model and its context, with the prefix cache of the previous prompt."""

    def __init__(self, path: str, threads: int) -> None:
        import llama_cpp
        import numpy as np

        self._lib, self._np = llama_cpp, np
        self.llm = llama_cpp.Llama(model_path=path, n_ctx=0, n_batch=512, n_threads=threads, verbose=False)
        self.context, self.vocab = self.llm.n_ctx(), self.llm.n_vocab()

    def logits(self) -> bytes:
        array = self._np.ctypeslib.as_array(self._lib.llama_get_logits(self.llm.ctx), shape=(self.vocab,))
        return bytes(array.astype("<f4", copy=False).tobytes())

    def start(self, ids: list[int]) -> bytes:
        cached = self.llm.input_ids[: self.llm.n_tokens].tolist()
        shared = next((i for i, (old, new) in enumerate(zip(cached, ids, strict=False)) if old != new), len(cached))
        self.llm.n_tokens = min(shared, len(ids) - 1)  # at least one token is evaluated, for its logits
        self.llm.eval(ids[self.llm.n_tokens :])
        return self.logits()

    def step(self, token: int) -> bytes:
        self.llm.eval([token])
        return self.logits()


def write_frame(out: BinaryIO, kind: bytes, payload: bytes) -> None:
    out.write(kind + struct.pack("<I", len(payload)) + payload)
    out.flush()


def selftest(child: Child) -> None:
    logits = child.start([i % child.vocab for i in SELFTEST_PROMPT])
    for _ in range(SELFTEST_TOKENS):
        values = child._np.frombuffer(logits, dtype="<f4")
        if not child._np.isfinite(values).all():
            raise RuntimeError("llama.cpp computed logits that are not numbers")
        logits = child.step(int(values.argmax()))


def serve(child: Child, requests: BinaryIO, out: BinaryIO, before: Callable[[dict[str, Any]], None] | None) -> None:
    for line in requests:
        try:
            request = json.loads(line)
            if before is not None:
                before(request)
            if "reset" in request:
                child.llm.reset()
                payload = b""
            else:
                payload = child.start(request["start"]) if "start" in request else child.step(int(request["step"]))
        except Exception as exc:  # a bad request or a llama.cpp error: one failed answer, the child goes on
            write_frame(out, b"E", f"{type(exc).__name__}: {exc}".encode())
            continue
        write_frame(out, b"L", payload)


def main(argv: list[str] | None = None, before: Callable[[dict[str, Any]], None] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.local.llama_child")
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--selftest", action="store_true")
    args = parser.parse_args(argv)
    # The frames go to a private copy of stdout; anything native code prints goes to stderr instead.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        child = Child(args.model, args.threads)
        if args.selftest:
            selftest(child)
            return 0
    except Exception as exc:
        print(f"llama.cpp could not load {args.model}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    write_frame(out, b"H", json.dumps({"context": child.context, "vocab": child.vocab}).encode())
    serve(child, sys.stdin.buffer, out, before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
