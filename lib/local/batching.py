"""Answers decoded together: continuous batching over one llama.cpp child.

Decoding a small model one sequence at a time reads all its weights for every token, so the CPU mostly waits on
memory; several sequences in one llama.cpp batch cost little more than one. Each answer holds a sequence of the
child (``Batcher.acquire``) and asks for its next logits as if alone (``BatchedSequence.start``/``step``). One
thread gathers the requests of every answer in progress — it waits a few milliseconds for the answers that have
not asked yet — and sends them to the child as one batch. Answers join and leave between batches; an answer that
stops (finished, cancelled, its client gone) frees its sequence at once. Each sequence has a cache of its own in
the child, and a prompt is computed in a batch of its own: an answer is the same whatever else is decoded.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import torch

from lib.local.llama_process import CachedSequence, DecoderDiedError, LlamaCppDecoder

GATHER_S = 0.005  # how long a batch waits for the answers in progress that have not asked yet
# One batch at a time in this server, whichever model: two llama.cpp children computing at once on the same cores
# slowed each other down threefold (each runs a thread per core).
_ONE_BATCH_AT_A_TIME = threading.Lock()


@dataclass
class _Request:
    keep: int
    add: list[int]
    logits: torch.Tensor | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Batcher:
    """Decodes the answers in progress on one llama.cpp child together, up to its number of sequences."""

    def __init__(self, fast: LlamaCppDecoder) -> None:
        self.fast, self.context = fast, fast.context
        self._free = list(range(fast.sequences))
        self._active: set[int] = set()
        self._pending: dict[int, _Request] = {}
        self._drop: list[int] = []  # sequences whose cache is dropped with the next batch
        self._dead: BaseException | None = None
        self._closed = False
        self.most_together = 0  # the most answers one batch has decoded
        lock = threading.Lock()
        self._work = threading.Condition(lock)  # the batching thread waits here for requests
        self._freed = threading.Condition(lock)  # answers wait here for a sequence
        self._thread = threading.Thread(target=self._run, name="llama-batches", daemon=True)
        self._thread.start()

    def acquire(self) -> BatchedSequence:
        """A sequence for one answer, once one is free; give it back with ``release``."""
        with self._freed:
            while not self._free and self._dead is None and not self._closed:
                self._freed.wait()
            if self._dead is not None:
                raise self._dead
            if self._closed:
                raise DecoderDiedError("llama.cpp was stopped")
            seq = self._free.pop()
            self._active.add(seq)
        return BatchedSequence(self, seq)

    def release(self, sequence: BatchedSequence) -> None:
        """The answer is over (finished, failed or abandoned): its sequence is free again."""
        with self._work:
            self._active.discard(sequence.seq)
            self._pending.pop(sequence.seq, None)
            self._drop.append(sequence.seq)
            self._free.append(sequence.seq)
            self._work.notify()
            self._freed.notify()

    def submit(self, seq: int, keep: int, add: list[int]) -> torch.Tensor:
        """The next token's logits of sequence ``seq`` once its cache keeps ``keep`` tokens and appends ``add``."""
        request = _Request(keep, add)
        with self._work:
            if self._dead is not None:
                raise self._dead
            self._pending[seq] = request
            self._work.notify()
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.logits is not None
        return request.logits

    def _run(self) -> None:
        while True:
            with self._work:
                while not self._pending and not (self._closed and not self._active):
                    self._work.wait()
                if self._closed and not self._active and not self._pending:
                    break
                deadline = time.monotonic() + GATHER_S
                while len(self._pending) < len(self._active) and (left := deadline - time.monotonic()) > 0:
                    self._work.wait(left)
                work, self._pending = self._pending, {}
                dropped, self._drop = self._drop, []
                self.most_together = max(self.most_together, len(work))
            entries: list[tuple[int, int, list[int]]] = [(seq, 0, []) for seq in dropped if seq not in work]
            entries += [(seq, request.keep, request.add) for seq, request in work.items()]
            try:
                with _ONE_BATCH_AT_A_TIME:
                    rows: list[torch.Tensor] = self.fast.batch(entries)
                error: BaseException | None = None
            except BaseException as exc:  # the child died, or llama.cpp refused the batch: those answers fail
                rows, error = [], exc
            if isinstance(error, DecoderDiedError):
                with self._work:
                    self._dead = error
                    self._freed.notify_all()
            for index, request in enumerate(work.values()):
                request.logits, request.error = (rows[index], None) if error is None else (None, error)
                request.done.set()
        self.fast.close()

    def close(self, wait: float) -> bool:
        """Take no new answer, and stop the child once the answers in progress have ended; whether that happened
        within ``wait`` seconds (else it happens when they end)."""
        with self._work:
            self._closed = True
            self._work.notify()
            self._freed.notify_all()
        self._thread.join(timeout=wait)
        return not self._thread.is_alive()


class BatchedSequence(CachedSequence):
    """One answer's view of the batcher: a decoder (see serving.Decoder) whose cache is its own sequence."""

    def __init__(self, batcher: Batcher, seq: int) -> None:
        super().__init__(batcher.context, lambda keep, add: batcher.submit(seq, keep, add))
        self.seq = seq
