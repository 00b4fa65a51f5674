"""Data-parallel training: two CPU processes (gloo) learn what one process learns with the same global batch."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
import torch

from lib.local import ranks as ranks_module
from lib.local.models import load, model_folder
from lib.local.ranks import Ranks
from lib.local.trainer import TrainingConfig, train
from tests.test_trainer import EXAMPLES
from tests.tiny_model import TINY


def _adapter(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _rank(folder: str, rendezvous: str, out: str, n_examples: int, config: TrainingConfig, rank: int) -> None:
    torch.set_num_threads(1)
    loaded = load(Path(folder), dtype=torch.float32)
    ranks = Ranks(rank, 2)
    ranks_module.join(ranks, Path(rendezvous), torch.device("cpu"))
    try:
        model, result = train(loaded, EXAMPLES[:n_examples], config, ranks=ranks)
    finally:
        ranks_module.leave()
    torch.save({"adapter": _adapter(model), "losses": [s.train_loss for s in result.steps],
                "per_example": result.example_losses}, out)  # fmt: skip


def _two_ranks(folder: Path, tmp_path: Path, n_examples: int, config: TrainingConfig) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    outputs = [tmp_path / f"rank{rank}.pt" for rank in range(2)]
    arguments = (str(folder), str(tmp_path / "rendezvous"))
    processes = [
        context.Process(target=_rank, args=(*arguments, str(outputs[rank]), n_examples, config, rank))
        for rank in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
        assert process.exitcode == 0  # a rank whose weights drifted would have raised RanksDivergedError
    return [torch.load(path) for path in outputs]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_folder(tmp_path_factory.mktemp("models"), TINY, "tests.tiny_model:prepare")


@pytest.mark.parametrize(
    ("n_examples", "config"),
    [(10, TrainingConfig(n_epochs=2, batch_size=4, seed=3)), (3, TrainingConfig(n_epochs=1, batch_size=1, seed=1))],
    ids=["batches of 4", "batches of 1: rank 1 has nothing to learn from in every step"],
)
def test_two_processes_learn_what_one_learns_and_hold_the_same_weights(
    folder: Path, tmp_path: Path, n_examples: int, config: TrainingConfig
) -> None:
    model, single = train(load(folder, dtype=torch.float32), EXAMPLES[:n_examples], config)
    expected = _adapter(model)
    found = _two_ranks(folder, tmp_path, n_examples, config)
    for rank in found:
        assert rank["losses"] == pytest.approx([s.train_loss for s in single.steps], rel=1e-4)
    assert found[0]["per_example"].keys() == single.example_losses.keys() == set(range(n_examples))
    for name, weight in expected.items():
        assert torch.equal(found[0]["adapter"][name], found[1]["adapter"][name]), name  # identical on both ranks
        assert torch.allclose(found[0]["adapter"][name], weight, atol=1e-5, rtol=1e-4), name  # as one process
    assert all(bool(w.abs().sum() > 0) for name, w in expected.items() if "lora_B" in name)  # B starts at 0
