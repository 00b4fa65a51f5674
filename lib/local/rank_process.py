"""A job trained in several processes: the worker is rank 0, ranks 1 .. N-1 are started for the job and end with it.

A rank that dies fails the job with a reason (rank 0's next collective sees its connection closed); the server
and its worker stay up. Each rank on a CPU gets its share of the cores.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import torch

from lib.local import ranks as ranks_module
from lib.local.config import ServerSettings
from lib.local.ranks import Ranks


class RankDiedError(RuntimeError):
    """A training process other than the worker stopped before the job ended."""


def job_config(job: dict[str, Any], n_training: int) -> Any:
    """The job's hyperparameters with "auto" resolved, as every rank must resolve them."""
    from lib.local.lifecycle import method_of
    from lib.local.trainer import TrainingConfig
    from lib.openai_format.rules import auto_batch_size, auto_epochs

    asked = job["method"]["dpo"]["hyperparameters"] if method_of(job) == "dpo" else job["hyperparameters"]
    multiplier = asked["learning_rate_multiplier"]
    return TrainingConfig(
        n_epochs=auto_epochs(n_training) if asked["n_epochs"] == "auto" else int(asked["n_epochs"]),
        batch_size=auto_batch_size(n_training) if asked["batch_size"] == "auto" else int(asked["batch_size"]),
        learning_rate_multiplier=1.0 if multiplier == "auto" else float(multiplier),
        seed=int(job["seed"]),
        early_stopping_patience=asked.get("early_stopping_patience"),
    )


def _threads_per_rank(world: int) -> int:
    return max(1, (os.cpu_count() or 1) // world)


def rank_main(settings: ServerSettings, job: dict[str, Any], rendezvous: str, parent_pid: int, rank: int) -> None:
    """Rank ``rank`` of a job: the same examples, model and seed as rank 0, its share of each batch."""
    from pathlib import Path

    from lib.local.base_models import offered
    from lib.local.files import read_examples
    from lib.local.models import compute_device, load, model_folder
    from lib.local.trainer import Stopped, train
    from lib.local.tuned_models import base_of
    from lib.local.worker import exit_with

    exit_with(parent_pid)  # the worker gone (killed), this rank must not wait for it
    world = settings.train_processes
    device = ranks_module.rank_device(compute_device(), rank)
    if device.type == "cpu":
        torch.set_num_threads(_threads_per_rank(world))
    training, _ = read_examples(settings, job["training_file"])
    validation = read_examples(settings, job["validation_file"], 1)[0] if job.get("validation_file") else []
    base = base_of(job["model"])
    loaded = load(model_folder(settings.models_dir, base, offered(settings.base_models, settings.data_dir)[base]),
                  device=device)  # fmt: skip
    ranks = Ranks(rank, world)
    ranks_module.join(ranks, Path(rendezvous), device)
    try:
        train(loaded, training, job_config(job, len(training)), validation, ranks=ranks)
    except Stopped:
        pass
    finally:
        ranks_module.leave()


@contextmanager
def process_group(
    settings: ServerSettings, job: dict[str, Any], world: int, device: torch.device
) -> Iterator[Ranks | None]:
    """The job's other ranks started and the group joined (rank 0 is this process); None for one process."""
    if world == 1:
        yield None
        return
    rendezvous = ranks_module.rendezvous_file(settings.data_dir / "ranks", job["id"])
    helpers = ranks_module.start_ranks((settings, job, str(rendezvous), os.getpid()), world)
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(_threads_per_rank(world))
    try:
        ranks_module.join(Ranks(0, world), rendezvous, device)
        yield Ranks(0, world)
    except Exception as exc:
        for helper in helpers:
            with suppress(subprocess.TimeoutExpired):
                helper.wait(timeout=5)
        dead = [(n, h.returncode) for n, h in enumerate(helpers, start=1) if h.returncode not in (None, 0)]
        if dead:
            rank, code = dead[0]
            raise RankDiedError(
                f"training process {rank} of {world} stopped unexpectedly (exit code {code}; killed, possibly out "
                "of memory)"
            ) from exc
        raise
    finally:
        ranks_module.leave()
        torch.set_num_threads(threads)
        for helper in helpers:
            try:
                helper.wait(timeout=30)
            except subprocess.TimeoutExpired:
                helper.kill()
                helper.wait()
        rendezvous.unlink(missing_ok=True)


def main() -> None:
    """A rank started by ``start_ranks``: its arguments come pickled on standard input (from the worker only)."""
    rank_main(*pickle.loads(sys.stdin.buffer.read()))


if __name__ == "__main__":
    main()
