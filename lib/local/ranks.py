"""Data-parallel training over several processes with torch.distributed (gloo on CPUs, NCCL on GPUs).

Every rank builds the same shuffled batches from the same seed and trains on its share of each batch
(``batch[rank::world]``); each rank's loss is its share of the batch's summed token loss divided by the
whole batch's token count, so the all-reduced (summed) gradient is exactly the one-process gradient of the
batch's mean loss. Every rank then takes the same optimizer step and holds the same weights, which the
trainer checks after each step. Only rank 0 reports progress and writes checkpoints and results.
Multi-node training (``torchrun`` across machines) would use the same code with another init method: not built.
"""

from __future__ import annotations

import datetime
import os
import pickle
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from lib.local.config import PROJECT_DIR

TIMEOUT = datetime.timedelta(minutes=10)  # the longest a rank waits for the others (rank 0 validating, say)


class RanksDivergedError(RuntimeError):
    """The ranks' weights differ after a step: the data-parallel step is broken."""


@dataclass(frozen=True)
class Ranks:
    rank: int
    world: int

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def share(self, batch: Sequence[Any]) -> list[Any]:
        return list(batch[self.rank :: self.world])


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def join(ranks: Ranks, rendezvous: Path, device: torch.device) -> None:
    """Join the process group (a file both ranks can see is the meeting point)."""
    if device.type == "cuda":
        torch.cuda.set_device(device.index or 0)  # NCCL works on the current device: each rank its own GPU
    dist.init_process_group(
        backend_for(device),
        init_method=f"file://{rendezvous}",
        rank=ranks.rank,
        world_size=ranks.world,
        timeout=TIMEOUT,
    )


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def sum_gradients(parameters: Sequence[torch.nn.Parameter]) -> None:
    """Every rank's gradients summed, in place (one flat all-reduce); a rank with no examples adds zeros."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for parameter in parameters:
        size = parameter.numel()
        parameter.grad = flat[offset : offset + size].view_as(parameter).clone()
        offset += size


def sum_figures(*figures: float, device: torch.device) -> list[float]:
    """Scalars summed over the ranks (the step's loss, correct and counted tokens)."""
    values = torch.tensor(figures, dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return [float(v) for v in values.tolist()]


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is true on any (the leader's "stop": cancelled or paused)."""
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def check_same_weights(parameters: Sequence[torch.nn.Parameter], device: torch.device) -> None:
    """RanksDivergedError unless every rank holds the same trainable weights (compared by two checksums)."""
    with torch.no_grad():
        flat = torch.cat([p.detach().reshape(-1).double() for p in parameters])
        weights = torch.arange(1, len(flat) + 1, dtype=torch.float64, device=flat.device)
        checksum = torch.stack([flat.sum(), (flat * weights).sum()]).to(device)
    highest, lowest = checksum.clone(), checksum.clone()
    dist.all_reduce(highest, op=dist.ReduceOp.MAX)
    dist.all_reduce(lowest, op=dist.ReduceOp.MIN)
    if not torch.equal(highest, lowest):
        raise RanksDivergedError("The training processes hold different weights after a step.")


def gather(items: list[Any]) -> list[Any]:
    """Every rank's items, concatenated in rank order (the data map's per-example losses)."""
    gathered: list[list[Any] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, items)
    return [item for part in gathered for item in (part or [])]


def start_ranks(arguments: tuple[Any, ...], world: int) -> list[subprocess.Popen[bytes]]:
    """Ranks 1 .. world-1 as ``python -m lib.local.rank_process``, each given ``(*arguments, rank)`` pickled on its
    standard input; rank 0 is the caller. (Plain processes: the training worker is a daemon, which
    multiprocessing forbids to have children.)"""
    processes = []
    for rank in range(1, world):
        process = subprocess.Popen(
            [sys.executable, "-m", "lib.local.rank_process"], cwd=PROJECT_DIR, stdin=subprocess.PIPE
        )
        assert process.stdin is not None
        process.stdin.write(pickle.dumps((*arguments, rank)))
        process.stdin.close()
        processes.append(process)
    return processes


def rank_device(device: torch.device, rank: int) -> torch.device:
    """Each rank's own GPU (cuda:rank); CPUs are shared."""
    return torch.device(f"cuda:{rank}") if device.type == "cuda" else device


def rendezvous_file(folder: Path, job_id: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{job_id}.rendezvous"
    if path.exists():
        os.unlink(path)  # a file left by an earlier attempt would make the ranks meet the wrong group
    return path
