"""The LoRA trainer on a tiny random llama: what it trains, what it leaves alone, and that it repeats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from lib.local.models import Loaded, load, model_folder
from lib.local.trainer import IGNORE, Callbacks, Stopped, TrainingConfig, encode, train
from lib.openai_format.jsonl import read_jsonl
from lib.settings import PROJECT_DIR
from tests.tiny_model import TINY

EXAMPLES = [e for _, e in read_jsonl((PROJECT_DIR / "data" / "limericks.jsonl").read_bytes()).valid_examples()][:10]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_folder(tmp_path_factory.mktemp("models"), TINY, "tests.tiny_model:prepare")


def fresh(folder: Path) -> Loaded:
    return load(folder, dtype=torch.float32)


def test_labels_cover_only_the_trained_assistant_turns(folder: Path) -> None:
    tokenizer = fresh(folder).tokenizer
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be Elle."},
        {"role": "user", "content": "Neon?"},
        {"role": "assistant", "content": "Not this one.", "weight": 0},
        {"role": "user", "content": "Again?"},
        {"role": "assistant", "content": "Neon glows red."},
    ]
    encoded = encode({"messages": messages}, tokenizer, max_length=4096)
    trained = tokenizer.decode(
        [i for i, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != IGNORE]
    )
    assert trained == "Neon glows red.<|im_end|>\n"
    assert tokenizer.decode(encoded.input_ids) == tokenizer.apply_chat_template(
        [{"role": m["role"], "content": m["content"]} for m in messages], tokenize=False
    )


def test_training_changes_the_adapter_not_the_base_and_the_loss_falls(folder: Path) -> None:
    loaded = fresh(folder)
    base_before = {name: p.detach().clone() for name, p in loaded.model.named_parameters()}
    model, result = train(loaded, EXAMPLES, TrainingConfig(n_epochs=3, seed=1))
    adapters = {n: p for n, p in model.named_parameters() if "lora_B" in n}
    assert adapters and all(p.abs().sum() > 0 for p in adapters.values())  # lora_B starts at zero
    for name, parameter in model.named_parameters():
        if "lora_" not in name:
            original = name.replace("base_model.model.", "").replace(".base_layer", "")
            assert torch.equal(parameter, base_before[original]), name
    losses = [s.train_loss for s in result.steps]
    assert len(losses) == 30 and sum(losses[-10:]) < sum(losses[:10])
    assert result.trained_tokens == 3 * sum(len(encode(e, loaded.tokenizer, 2048).input_ids) for e in EXAMPLES)


def test_same_seed_same_run_and_a_stop_request_is_honoured(folder: Path) -> None:
    first = train(fresh(folder), EXAMPLES, TrainingConfig(n_epochs=1, seed=3))[1]
    second = train(fresh(folder), EXAMPLES, TrainingConfig(n_epochs=1, seed=3))[1]
    assert [s.train_loss for s in first.steps] == [s.train_loss for s in second.steps]
    steps: list[int] = []
    callbacks = Callbacks(on_step=lambda m: steps.append(m.step), should_stop=lambda: len(steps) >= 4)
    with pytest.raises(Stopped):
        train(fresh(folder), EXAMPLES, TrainingConfig(n_epochs=2), callbacks=callbacks)
    assert steps == [1, 2, 3, 4]


def test_validation_loss_is_reported_at_each_epoch_end(folder: Path) -> None:
    result = train(fresh(folder), EXAMPLES, TrainingConfig(n_epochs=2, batch_size=2), validation=EXAMPLES[:3])[1]
    with_valid = [s for s in result.steps if s.valid_loss is not None]
    assert [s.step for s in with_valid] == [5, 10]
    assert all(0 <= (s.valid_mean_token_accuracy or 0) <= 1 for s in with_valid)


def test_early_stopping_stops_when_validation_loss_stops_falling_and_keeps_the_best_epoch(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    losses = iter([2.77, 2.73, 2.99, 3.10, 3.20])  # the walk's job: best after epoch 2, then worse
    monkeypatch.setattr("lib.local.trainer.evaluate", lambda *args: (next(losses), 0.5))
    at_epoch_end: dict[int, dict[str, torch.Tensor]] = {}

    def remember(epoch: int, step: int, model: Any) -> None:
        at_epoch_end[epoch] = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    config = TrainingConfig(n_epochs=5, batch_size=5, early_stopping_patience=1)
    model, result = train(fresh(folder), EXAMPLES, config, EXAMPLES[:2], Callbacks(on_epoch_end=remember))
    assert (result.stopped_after_epoch, result.best_epoch, result.best_valid_loss) == (3, 2, 2.73)
    assert len(result.steps) == 6 and sorted(at_epoch_end) == [1, 2, 3]  # epochs 4 and 5 never ran
    kept = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert all(torch.equal(kept[n], at_epoch_end[2][n]) for n in kept)
    assert not all(torch.equal(kept[n], at_epoch_end[3][n]) for n in kept)
    assert result.trained_tokens == 3 * sum(len(encode(e, fresh(folder).tokenizer, 2048).input_ids) for e in EXAMPLES)


def test_without_validation_examples_early_stopping_trains_every_epoch(folder: Path) -> None:
    result = train(fresh(folder), EXAMPLES, TrainingConfig(n_epochs=2, batch_size=5, early_stopping_patience=1))[1]
    assert len(result.steps) == 4 and result.best_epoch is None and result.stopped_after_epoch is None


def test_each_examples_loss_is_recorded_in_every_epoch_for_the_data_map(folder: Path) -> None:
    loaded = fresh(folder)
    _, single = train(loaded, EXAMPLES, TrainingConfig(n_epochs=3, seed=1, batch_size=1))
    assert sorted(single.example_losses) == list(range(10)) and all(len(v) == 3 for v in single.example_losses.values())
    # batch size 1: a step's loss is its one example's loss
    per_step = sorted(round(s.train_loss, 4) for s in single.steps if s.epoch == 2)
    assert per_step == sorted(round(v[1], 4) for v in single.example_losses.values())
    assert sum(v[-1] for v in single.example_losses.values()) < sum(v[0] for v in single.example_losses.values())
    _, batched = train(fresh(folder), EXAMPLES, TrainingConfig(n_epochs=2, seed=1, batch_size=4))
    steps = [s for s in batched.steps if s.epoch == 1]
    assert len(steps) == 3 and all(len(v) == 2 for v in batched.example_losses.values())
    assert all(v > 0 for values in batched.example_losses.values() for v in values)


def preference_pairs(n: int = 8) -> list[dict[str, Any]]:
    """Elle's limerick preferred to a flat answer for the same question."""
    return [
        {"input": {"messages": e["messages"][:-1]}, "preferred_output": [e["messages"][-1]],
         "non_preferred_output": [{"role": "assistant", "content": "I do not know much about that one."}]}
        for e in EXAMPLES[:n]
    ]  # fmt: skip


def test_dpo_raises_the_chosen_over_rejected_margin_and_leaves_the_base_alone(folder: Path) -> None:
    from lib.local import dpo

    loaded = fresh(folder)
    base_before = {name: p.detach().clone() for name, p in loaded.model.named_parameters()}
    pairs = preference_pairs()
    encoded = [dpo.encode_pair(p, loaded.tokenizer, 2048) for p in pairs]
    chosen = encoded[0].chosen
    labelled = str(
        loaded.tokenizer.decode([t for t, y in zip(chosen.input_ids, chosen.labels, strict=True) if y != IGNORE])
    )
    assert labelled.startswith(pairs[0]["preferred_output"][0]["content"])  # only the answer is scored
    steps: list[dict[str, float]] = []
    callbacks = Callbacks(on_step=lambda m: steps.append(m.extra))
    config = TrainingConfig(n_epochs=3, batch_size=2, seed=1, learning_rate_multiplier=10)
    model, result = dpo.train_dpo(loaded, pairs, config, beta=0.1, validation=pairs[:2], callbacks=callbacks)
    with torch.no_grad():
        after = dpo._forward(model, encoded, int(loaded.tokenizer.eos_token_id), torch.device("cpu"))
        with model.disable_adapter():
            before = dpo._forward(model, encoded, int(loaded.tokenizer.eos_token_id), torch.device("cpu"))
    assert float((after[0] - after[1]).mean()) > float((before[0] - before[1]).mean()) + 1.0  # chosen gained
    assert len(steps) == 12 and steps[-1]["train_reward_accuracy"] >= 0.5 and "train_reward_margin" in steps[0]
    assert steps[-1]["train_reward_margin"] > steps[0]["train_reward_margin"]
    assert "valid_reward_accuracy" in steps[3] and result.steps[3].valid_loss is not None
    for name, parameter in model.named_parameters():
        if "lora_" not in name:
            original = name.replace("base_model.model.", "").replace(".base_layer", "")
            assert torch.equal(parameter, base_before[original]), name


@pytest.mark.parametrize(
    ("machine", "avx512_bf16", "amx", "onednn_says", "expected"),
    [
        ("x86_64", False, False, True, torch.float32),  # AVX-512 without bf16: oneDNN would emulate it, 3x slower
        ("x86_64", True, False, True, torch.bfloat16),
        ("x86_64", False, True, True, torch.bfloat16),
        ("arm64", False, False, True, torch.bfloat16),
        ("arm64", False, False, False, torch.float32),
    ],
)
def test_the_base_trains_in_bf16_only_where_the_cpu_has_bf16_instructions(
    monkeypatch: pytest.MonkeyPatch, machine: str, avx512_bf16: bool, amx: bool, onednn_says: bool, expected: Any
) -> None:
    from lib.local import models

    monkeypatch.setattr(models.platform, "machine", lambda: machine)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn_says)
    assert models.compute_dtype(torch.device("cpu")) == expected


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_fused_lora_layers_compute_what_peft_computes(folder: Path, dtype: torch.dtype) -> None:
    """Training runs each LoRA layer as one autograd step: same loss and adapter gradients as peft's own layers
    (to 1e-9 in fp64; within bf16's rounding on a bf16 base), and peft's layers are back afterwards."""
    from lib.local.fused_lora import fused_lora
    from lib.local.trainer import _loss, add_lora, collate

    loaded = load(folder, dtype=dtype)
    model = add_lora(loaded, TrainingConfig(lora_rank=4))
    if dtype == torch.float64:
        for parameter in model.parameters():
            parameter.data = parameter.data.double()
    torch.manual_seed(0)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.5)  # B starts at zero, which would hide a wrong adapter path
    ids, labels, mask = collate([encode(e, loaded.tokenizer, 2048) for e in EXAMPLES[:2]], 0, torch.device("cpu"))

    def loss_and_gradients() -> tuple[float, dict[str, torch.Tensor]]:
        model.zero_grad()
        loss = _loss(model, ids, labels, mask)[0]
        loss.backward()
        return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    peft_loss, peft_gradients = loss_and_gradients()
    with fused_lora(model) as fused_layers:
        fused_loss, fused_gradients = loss_and_gradients()
    assert fused_layers == sum(1 for n, _ in model.named_modules() if n.endswith("_proj"))
    assert "forward" not in vars(next(m for n, m in model.named_modules() if n.endswith("q_proj")))
    assert fused_gradients.keys() == peft_gradients.keys() and len(fused_gradients) == 2 * fused_layers
    tolerance = 1e-9 if dtype == torch.float64 else 0.1
    assert fused_loss == pytest.approx(peft_loss, rel=1e-12 if dtype == torch.float64 else 1e-2)
    for name, gradient in peft_gradients.items():
        difference = float((fused_gradients[name] - gradient).norm() / gradient.norm().clamp(min=1e-12))
        assert difference < tolerance, name


def test_plain_attention_only_while_its_kept_scores_stay_small(folder: Path) -> None:
    """Short batches train with plain attention (faster on a CPU); long rows with flash attention, whose memory
    stays flat: SmolLM2 (30 layers x 9 heads) at one 362-token row kept 400 MB more with plain attention."""
    from types import SimpleNamespace

    from lib.local.trainer import plain_attention_fits

    smollm2 = SimpleNamespace(num_attention_heads=9, num_hidden_layers=30)
    assert plain_attention_fits(1, 85, smollm2) and plain_attention_fits(4, 85, smollm2)  # Elle's rows
    assert not plain_attention_fits(1, 362, smollm2) and not plain_attention_fits(8, 85, smollm2)
    assert not plain_attention_fits(1, 2048, smollm2)
    assert not plain_attention_fits(1, 10, SimpleNamespace())  # a config that does not say: flash attention


def test_the_worker_keeps_a_base_that_a_finished_job_gave_back_and_it_trains_as_a_fresh_load(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lib.local import worker

    kept = worker.KeptBase()
    config = TrainingConfig(n_epochs=1, batch_size=2, seed=0, lora_rank=4)
    first = kept.borrow(folder)
    original = {name: p.detach().clone() for name, p in first.model.named_parameters()}
    model, _ = train(first, EXAMPLES[:4], config)
    kept.give_back(folder, first, model)

    again = kept.borrow(folder)
    assert again is first  # not loaded again
    assert {name: p for name, p in again.model.named_parameters()}.keys() == original.keys()
    assert all(torch.equal(p, original[name]) for name, p in again.model.named_parameters())  # no adapter left
    _, reused = train(again, EXAMPLES[:4], config)
    _, loaded_fresh = train(load(folder), EXAMPLES[:4], config)
    assert [s.train_loss for s in reused.steps] == [s.train_loss for s in loaded_fresh.steps]

    # A job that did not give its model back (cancelled, failed) leaves nothing to reuse.
    after_a_failed_job = kept.borrow(folder)
    assert after_a_failed_job is not again
    # A base added again under the same name (its config rewritten) is loaded afresh.
    kept.give_back(folder, after_a_failed_job, train(after_a_failed_job, EXAMPLES[:2], config)[0])
    (folder / "config.json").touch()
    after_re_adding = kept.borrow(folder)
    assert after_re_adding is not after_a_failed_job
    # Kept no longer than KEEP_BASE_SECONDS without a job.
    kept.give_back(folder, after_re_adding, train(after_re_adding, EXAMPLES[:2], config)[0])
    monkeypatch.setattr(worker, "KEEP_BASE_SECONDS", 0)
    kept.drop_if_idle()
    after_idling = kept.borrow(folder)
    assert after_idling is not after_re_adding

    class Unremovable:  # adapters that cannot be taken out: the job still succeeded, the base is not kept
        def unload(self) -> None:
            raise RuntimeError("cannot unload")

    kept.give_back(folder, after_idling, Unremovable())
    assert kept.borrow(folder) is not after_idling
