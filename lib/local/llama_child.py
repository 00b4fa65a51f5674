"""python -m lib.local.llama_child MODEL.gguf [--threads N] [--selftest]: llama.cpp in a process of its own.

llama.cpp is native code built for some CPU; on another it can die of an illegal instruction (its AMX path
did on some AMX machines). The server therefore never loads it itself: it runs this child, which loads one
GGUF file and answers the server's requests over its stdin and stdout, and a child that dies costs one
answer, never the server. ``--selftest`` loads the file, decodes a few tokens and exits 0.

Requests are JSON lines: ``{"batch": [[seq, keep, [ids]], ...]}`` decodes several sequences at once (up to
``sequences``, each with a cache of ``context`` tokens): each entry keeps the first ``keep`` tokens of sequence
``seq``'s cache, drops the rest and appends ``ids`` (an entry with no ids only drops); ``{"reset": true}`` empties
the cache. Each request is answered by one frame: a kind byte, a 4-byte little-endian length, the payload.
Kinds: ``H`` (after loading: JSON ``{"context", "vocab", "sequences"}``), ``L`` (float32 logits of the next
token of each entry with ids, in order; empty after a reset), ``E`` (an error message, UTF-8). This module
imports no torch.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import struct
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

SELFTEST_PROMPT = [1, 2, 3, 4, 5, 6, 7, 8]  # any ids below the vocabulary size exercise the same kernels
SELFTEST_TOKENS = 8
SEQUENCES = 8  # answers decoded together, at most
SEQUENCE_CONTEXT = 3072  # tokens (prompt and answer) of each sequence where there are several
CACHE_BUDGET = 640 << 20  # bytes of keys and values for all sequences: a larger model gets fewer sequences
BATCH = 512  # tokens per llama_decode call


class Child:
    """One llama.cpp model and a context that decodes up to ``SEQUENCES`` sequences together, each in a cache of its
    own (llama.cpp's results for a sequence then do not depend on where the others' keys lie)."""

    def __init__(self, path: str, threads: int) -> None:
        import llama_cpp
        import numpy as np

        self._lib, self._np = llama_cpp, np
        # llama.cpp's loading chatter goes through llama-cpp-python's own log callback (installed for the life of
        # the process): only its errors are printed. A callback of ours would be freed with this object while
        # llama.cpp still called it (a later model load in the same process crashed).
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        llama_cpp.llama_backend_init()
        self.model = llama_cpp.llama_model_load_from_file(path.encode(), llama_cpp.llama_model_default_params())
        if not self.model:
            raise RuntimeError(f"llama.cpp could not read {path}")
        model = self.model
        head = llama_cpp.llama_model_n_embd(model) // llama_cpp.llama_model_n_head(model)
        per_token = 2 * 2 * llama_cpp.llama_model_n_layer(model) * llama_cpp.llama_model_n_head_kv(model) * head
        self.sequences = max(1, min(SEQUENCES, CACHE_BUDGET // (per_token * SEQUENCE_CONTEXT)))
        trained = llama_cpp.llama_model_n_ctx_train(model)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = (trained if self.sequences == 1 else min(trained, SEQUENCE_CONTEXT)) * self.sequences
        params.n_batch = params.n_ubatch = BATCH
        params.n_seq_max, params.kv_unified = self.sequences, False
        params.n_threads = params.n_threads_batch = threads
        # Flash attention made a sequence's results depend on the other sequences' lengths (past 256 tokens).
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        self.ctx = llama_cpp.llama_init_from_model(model, params)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not make a context")
        self.context = llama_cpp.llama_n_ctx_seq(self.ctx)
        self.vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(self.model))
        self.batch = llama_cpp.llama_batch_init(BATCH, 0, 1)
        self.lengths = [0] * self.sequences  # tokens cached per sequence

    def reset(self) -> None:
        self._lib.llama_memory_clear(self._lib.llama_get_memory(self.ctx), True)
        self.lengths = [0] * self.sequences

    def decode(self, entries: list[tuple[int, int, list[int]]]) -> bytes:
        """Each entry (seq, keep, ids): keep that many cached tokens of seq, append ids; the logits after each
        entry's last id, in order. An entry of several ids (a prompt) is computed in a batch of its own, the
        entries of one id each (the next token of every answer in progress) in one batch together: llama.cpp's
        results for a prompt depend on what else shares its batch, and an answer must not depend on its company."""
        memory = self._lib.llama_get_memory(self.ctx)
        for seq, keep, _ in entries:
            if not 0 <= seq < self.sequences or not 0 <= keep <= self.lengths[seq]:
                raise ValueError(f"sequence {seq} cannot keep {keep} of {self.lengths[seq]} tokens")
            self._lib.llama_memory_seq_rm(memory, seq, keep, -1)
            self.lengths[seq] = keep
        logits: dict[int, bytes] = {}
        steps = [(index, entry) for index, entry in enumerate(entries) if len(entry[2]) == 1]
        steps.sort(key=_by_sequence)  # in sequence order: out of order, llama.cpp took twice as long
        for index, entry in enumerate(entries):
            if len(entry[2]) > 1:
                logits |= self._run([(index, entry)])
        if steps:
            logits |= self._run(steps)
        return b"".join(logits[index] for index in sorted(logits))

    def _run(self, entries: list[tuple[int, tuple[int, int, list[int]]]]) -> dict[int, bytes]:
        """Decode these entries' ids in batches of at most BATCH tokens; the logits after each entry's last id."""
        tokens = [
            (token, keep + i, seq, index if i == len(ids) - 1 else None)
            for index, (seq, keep, ids) in entries
            for i, token in enumerate(ids)
        ]
        out: dict[int, bytes] = {}
        for start in range(0, len(tokens), BATCH):
            chunk = tokens[start : start + BATCH]
            for i, (token, position, seq, wanted) in enumerate(chunk):
                self.batch.token[i], self.batch.pos[i], self.batch.n_seq_id[i] = token, position, 1
                self.batch.seq_id[i][0], self.batch.logits[i] = seq, wanted is not None
            self.batch.n_tokens = len(chunk)
            if self._lib.llama_decode(self.ctx, self.batch) != 0:
                raise RuntimeError("llama.cpp could not decode the batch (its cache is full?)")
            for i, (_, _, _, wanted) in enumerate(chunk):
                if wanted is not None:
                    row = self._lib.llama_get_logits_ith(self.ctx, i)
                    out[wanted] = self._np.ctypeslib.as_array(row, shape=(self.vocab,)).astype("<f4").tobytes()
        for _, (seq, keep, ids) in entries:
            self.lengths[seq] = keep + len(ids)
        return out


def _by_sequence(entry: tuple[int, tuple[int, int, list[int]]]) -> int:
    return entry[1][0]


def write_frame(out: BinaryIO, kind: bytes, payload: bytes) -> None:
    out.write(kind + struct.pack("<I", len(payload)) + payload)
    out.flush()


def selftest(child: Child) -> None:
    """A few tokens of two sequences at once (one for a model given one): the kernels of prompts and of batched
    steps."""
    prompt = [i % child.vocab for i in SELFTEST_PROMPT]
    sequences = range(min(2, child.sequences))
    logits = child.decode([(seq, 0, prompt[: len(prompt) - 5 * seq]) for seq in sequences])
    for _ in range(SELFTEST_TOKENS):
        values = child._np.frombuffer(logits, dtype="<f4").reshape(len(sequences), child.vocab)
        if not child._np.isfinite(values).all():
            raise RuntimeError("llama.cpp computed logits that are not numbers")
        picked = values.argmax(axis=1)
        logits = child.decode([(seq, child.lengths[seq], [int(picked[seq])]) for seq in sequences])


def serve(child: Child, requests: BinaryIO, out: BinaryIO, before: Callable[[dict[str, Any]], None] | None) -> None:
    for line in requests:
        try:
            request = json.loads(line)
            if before is not None:
                before(request)
            if "reset" in request:
                child.reset()
                payload = b""
            else:
                payload = child.decode(
                    [(int(seq), int(keep), [int(i) for i in ids]) for seq, keep, ids in request["batch"]]
                )
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
    write_frame(
        out, b"H", json.dumps({"context": child.context, "vocab": child.vocab, "sequences": SEQUENCES}).encode()
    )
    serve(child, sys.stdin.buffer, out, before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
