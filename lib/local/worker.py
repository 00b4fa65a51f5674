"""The training worker: a separate process that trains queued jobs one at a time and reports every step."""

from __future__ import annotations

import csv
import gc
import io
import multiprocessing
import os
import shutil
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from lib.local import lifecycle
from lib.local.base_models import offered
from lib.local.config import ORGANIZATION, ServerSettings
from lib.local.files import read_examples, save_file
from lib.local.rank_process import job_config, process_group
from lib.local.store import LocalStore, new_id, now
from lib.local.tuned_models import adapter_path, base_of, tuned_models

KEEP_CHECKPOINTS = 3
KEEP_BASE_SECONDS = 600  # a base model stays loaded in the worker this long after its last job
QUEUE_POLL_SECONDS = 0.1


def tuned_model_id(job: dict[str, Any]) -> str:
    return f"ft:{base_of(job['model'])}:{ORGANIZATION}:{job.get('suffix') or ''}:{job['id'].removeprefix('ftjob-')[:8]}"


DPO_COLUMNS = ["train_reward_margin", "train_reward_accuracy", "valid_reward_margin", "valid_reward_accuracy"]


def result_csv(steps: list[Any]) -> bytes:
    """The job's result file: one line per step (DPO jobs: loss, reward margin and accuracy)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if steps and steps[0].extra:
        writer.writerow(["step", "train_loss", "valid_loss", *DPO_COLUMNS])
        for s in steps:
            loss = "" if s.valid_loss is None else f"{s.valid_loss:.5f}"
            extra = [f"{s.extra[c]:.5f}" if c in s.extra else "" for c in DPO_COLUMNS]
            writer.writerow([s.step, f"{s.train_loss:.5f}", loss, *extra])
        return out.getvalue().encode()
    writer.writerow(["step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy"])
    for s in steps:
        valid = ("", "") if s.valid_loss is None else (f"{s.valid_loss:.5f}", f"{s.valid_mean_token_accuracy:.5f}")
        writer.writerow([s.step, f"{s.train_loss:.5f}", f"{s.train_mean_token_accuracy:.5f}", *valid])
    return out.getvalue().encode()


def example_losses_csv(losses: dict[int, list[float]]) -> bytes:
    """The data map's raw figures: each training example (1-based, in file order) and its loss per epoch."""
    epochs = max((len(values) for values in losses.values()), default=0)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["example", *(f"epoch_{n}" for n in range(1, epochs + 1))])
    for index in sorted(losses):
        writer.writerow([index + 1, *(f"{value:.5f}" for value in losses[index])])
    return out.getvalue().encode()


class KeptBase:
    """The base model of the last job that ended well, kept loaded for the next job on the same base (loading
    takes ~0.6-0.8 s of a ten-second job). A job borrows it; only a job that finished gives it back, with its
    LoRA layers removed, so a cancelled or failed job's model is never reused. Dropped after KEEP_BASE_SECONDS
    without a job, to give its memory back."""

    def __init__(self) -> None:
        self.key: tuple[Path, int] | None = None
        self.loaded: Any = None
        self.idle_since = 0.0

    @staticmethod
    def _key(folder: Path) -> tuple[Path, int]:
        """The folder and when its config changed: a base model added again under the same name loads afresh."""
        return folder, (folder / "config.json").stat().st_mtime_ns

    def borrow(self, folder: Path) -> Any:
        from lib.local.models import load

        kept, same = self.loaded, self.key == self._key(folder)
        self.drop()  # lent out: it comes back only through give_back
        if kept is not None and same:
            return kept
        kept = None  # another base's memory is freed before this one loads
        return load(folder)

    def give_back(self, folder: Path, loaded: Any, model: Any) -> None:
        """``model``: the PeftModel the job trained around ``loaded.model``; its adapters are taken out."""
        from peft.tuners.tuners_utils import BaseTunerLayer

        try:
            model.unload()
            if any(isinstance(module, BaseTunerLayer) for module in loaded.model.modules()):
                return  # not a plain base model again: the next job loads afresh
            self.key, self.loaded, self.idle_since = self._key(folder), loaded, time.monotonic()
        except Exception:  # the job has succeeded whatever happens here: the next one loads afresh
            traceback.print_exc()

    def drop(self) -> None:
        self.key, self.loaded = None, None

    def drop_if_idle(self) -> None:
        if self.loaded is not None and time.monotonic() - self.idle_since > KEEP_BASE_SECONDS:
            self.drop()
            gc.collect()


class JobRunner:
    """Runs queued jobs one at a time; a job on the same base as the last one reuses its loaded model."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.store = LocalStore(settings.store_path)
        self.base = KeptBase()

    def run_next(self) -> bool:
        job = lifecycle.start_next(self.store)
        if job is None:
            return False
        try:
            self.run(job)
        except Exception as exc:  # a job must never take the worker down; the user sees the reason
            traceback.print_exc()
            lifecycle.fail(self.store, job["id"], "training_error", f"Training stopped with an error: {exc}")
        return True

    def tuned_start(self, job: dict[str, Any], loaded: Any) -> Any:
        """The tuned model a job continues from, its adapter trainable (fp32, as a fresh one)."""
        from peft import PeftModel

        info = tuned_models(self.store)[job["model"]]
        path = adapter_path(self.store, self.settings, job["model"], info)
        model = PeftModel.from_pretrained(loaded.model, path, is_trainable=True)
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.data = parameter.data.float()
        return model

    def run(self, job: dict[str, Any]) -> None:
        from lib.local.dpo import DEFAULT_BETA, train_dpo
        from lib.local.models import model_folder
        from lib.local.trainer import Callbacks, Stopped, train

        store, settings, job_id = self.store, self.settings, job["id"]
        method = lifecycle.method_of(job)
        training, _ = read_examples(settings, job["training_file"], method=method)
        validation = read_examples(settings, job["validation_file"], 1, method)[0] if job.get("validation_file") else []
        asked = job["method"]["dpo"]["hyperparameters"] if method == "dpo" else job["hyperparameters"]
        config = job_config(job, len(training))
        hyperparameters = {
            "n_epochs": config.n_epochs,
            "batch_size": config.batch_size,
            "learning_rate_multiplier": config.learning_rate_multiplier,
        }
        if config.early_stopping_patience:
            hyperparameters["early_stopping_patience"] = config.early_stopping_patience
        beta = DEFAULT_BETA if asked.get("beta", "auto") == "auto" else float(asked["beta"])
        resolved = _method(hyperparameters) if method != "dpo" else _dpo_method(hyperparameters, beta)
        store.update("jobs", job_id, hyperparameters=hyperparameters, method=resolved)
        for old_id, old_path in store.checkpoint_paths(job_id):  # a resumed job trains again from its first step
            store.delete("checkpoints", old_id)
            shutil.rmtree(old_path, ignore_errors=True)
        lifecycle.event(store, job_id, "Fine-tuning job started")
        base = base_of(job["model"])
        folder = model_folder(settings.models_dir, base, offered(settings.base_models, settings.data_dir)[base])
        loaded = self.base.borrow(folder)
        start = self.tuned_start(job, loaded) if job["model"] != base else None
        world = settings.train_processes if method != "dpo" else 1
        lifecycle.event(store, job_id, training_sentence(base, loaded, world, settings.train_processes))
        peak = PeakMemory(next(loaded.model.parameters()).device)
        started = time.time()
        out_dir = settings.adapters_dir / job_id
        last_metrics: dict[str, Any] = {}

        def on_step(m: Any) -> None:
            peak.sample()
            data = {"step": m.step, "total_steps": m.total_steps, "train_loss": m.train_loss}
            data |= m.extra or {"train_mean_token_accuracy": m.train_mean_token_accuracy}
            message = f"Step {m.step}/{m.total_steps}: training loss={m.train_loss:.2f}"
            if "train_reward_accuracy" in m.extra:
                message += f", reward accuracy={m.extra['train_reward_accuracy']:.2f}"
            if m.valid_loss is not None:
                data["valid_loss"] = m.valid_loss
                if m.valid_mean_token_accuracy is not None:
                    data["valid_mean_token_accuracy"] = m.valid_mean_token_accuracy
                message += f", validation loss={m.valid_loss:.2f}"
            lifecycle.event(store, job_id, message, data)
            per_step = (time.time() - started) / m.step
            store.update("jobs", job_id, estimated_finish=int(time.time() + per_step * (m.total_steps - m.step)))
            last_metrics.clear()
            last_metrics.update(data)

        def on_epoch_end(epoch: int, step: int, model: Any) -> None:
            checkpoint_model = f"{tuned_model_id(job)}:ckpt-step-{step}"
            path = out_dir / f"ckpt-step-{step}"
            partial = out_dir / f"ckpt-step-{step}.partial"
            model.save_pretrained(partial)  # complete or not a checkpoint: only a whole folder is renamed
            shutil.rmtree(path, ignore_errors=True)
            partial.rename(path)
            obj = {
                "object": "fine_tuning.job.checkpoint",
                "id": new_id("ftckpt"),
                "created_at": now(),
                "fine_tuned_model_checkpoint": checkpoint_model,
                "fine_tuning_job_id": job_id,
                "step_number": step,
                "metrics": dict(last_metrics),
            }
            store.insert("checkpoints", obj, job_id=job_id, model=checkpoint_model, path=str(path))
            lifecycle.event(store, job_id, f"Checkpoint created at step {step}")
            for old_id, old_path in store.checkpoint_paths(job_id)[:-KEEP_CHECKPOINTS]:
                store.delete("checkpoints", old_id)
                shutil.rmtree(old_path, ignore_errors=True)

        callbacks = Callbacks(on_step, on_epoch_end, lambda: store.stop_request(job_id) is not None)
        try:
            if method == "dpo":
                model, result = train_dpo(loaded, training, config, beta, validation, callbacks, start)
            else:
                with process_group(settings, job, world, next(loaded.model.parameters()).device) as ranks:
                    model, result = train(loaded, training, config, validation, callbacks, ranks)
        except Stopped:
            lifecycle.stopped(store, job_id)
            return
        lifecycle.event(store, job_id, f"Peak memory: {peak.megabytes():,} MB{peak.where}")
        for message in early_stopping_events(result, config):
            lifecycle.event(store, job_id, message)
        model.save_pretrained(out_dir / "final")
        results = save_file(store, settings, result_csv(result.steps), f"{job_id}-results.csv", "fine-tune-results")
        files = [results["id"]]
        if result.example_losses:
            per_example = example_losses_csv(result.example_losses)
            files.append(
                save_file(store, settings, per_example, f"{job_id}-example-losses.csv", "fine-tune-results")["id"]
            )
        lifecycle.succeed(
            store,
            job_id,
            tuned_model_id(job),
            trained_tokens=result.trained_tokens,
            result_files=files,
            tokens_per_second=round(result.tokens_per_second, 1),
        )
        self.base.give_back(folder, loaded, model)


def training_sentence(base: str, loaded: Any, world: int, asked: int) -> str:
    """What trains and where, for the job's events: model, device, dtype, processes and chat template."""
    device = next(loaded.model.parameters()).device
    dtype = str(loaded.model.dtype).removeprefix("torch.")
    processes = "1 process" if world == 1 else f"{world} processes"
    if world < asked:
        processes += " (DPO trains in one)"
    return f"Training {base} on {device.type} in {dtype}, {processes}; chat template: {loaded.template}"


class PeakMemory:
    """The job's peak memory: the GPU's allocator peak, or this process's resident memory sampled each step."""

    def __init__(self, device: Any) -> None:
        import psutil
        import torch

        self.device, self.peak = device, 0
        self._process = psutil.Process()
        self.where = f" on {device.type}" if device.type == "cuda" else " (resident, this process)"
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        self.sample()

    def sample(self) -> None:
        self.peak = max(self.peak, int(self._process.memory_info().rss))

    def megabytes(self) -> int:
        import torch

        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device) // 2**20)
        return self.peak // 2**20


def early_stopping_events(result: Any, config: Any) -> list[str]:
    """What early stopping did, in words, for the job's events."""
    if result.best_epoch is None:
        return []
    said = []
    if result.stopped_after_epoch is not None:
        said.append(
            f"Stopped early after epoch {result.stopped_after_epoch} of {config.n_epochs}: the validation loss "
            f"had not improved for {config.early_stopping_patience} epoch(s)"
        )
    said.append(
        f"The tuned model keeps the weights of epoch {result.best_epoch}, "
        f"the lowest validation loss ({result.best_valid_loss:.2f})"
    )
    return said


def _method(hyperparameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}}


def _dpo_method(hyperparameters: dict[str, Any], beta: float) -> dict[str, Any]:
    return {"type": "dpo", "dpo": {"hyperparameters": {**hyperparameters, "beta": beta}}}


def exit_with(pid: int) -> None:
    """End this process as soon as process ``pid`` is gone (checked every second, also mid-training)."""

    def watch() -> None:
        while True:
            time.sleep(1)
            try:
                os.kill(pid, 0)
            except OSError:
                os._exit(0)

    threading.Thread(target=watch, daemon=True, name=f"exit-with-{pid}").start()


def import_training() -> None:
    """What a job trains with (transformers, peft), imported before the first job asks: that job then starts
    about 3 s sooner, for ~160 MB more held while the worker waits."""
    import lib.local.dpo
    import lib.local.models
    import lib.local.trainer  # noqa: F401


def worker_main(settings: ServerSettings, parent_pid: int) -> None:
    """The worker process: train queued jobs one at a time until the server goes away."""
    exit_with(parent_pid)
    runner = JobRunner(settings)
    import_training()
    while True:
        if not runner.run_next():
            runner.base.drop_if_idle()
            time.sleep(QUEUE_POLL_SECONDS)


def start_worker(settings: ServerSettings) -> multiprocessing.process.BaseProcess:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or torch state inherited
    process = context.Process(target=worker_main, args=(settings, os.getpid()), daemon=True, name="studio-trainer")
    process.start()
    return process


WORKER_DIED = "The training process stopped unexpectedly (killed, possibly out of memory). Create the job again."


class Supervisor:
    """Keeps a worker process alive: when it dies (the out-of-memory killer, a crash), its running job fails
    with a true message within seconds and a new worker takes the queue."""

    def __init__(self, settings: ServerSettings, check_every: float = 1.0) -> None:
        self.settings, self.check_every = settings, check_every
        self.store = LocalStore(settings.store_path)
        self.worker = start_worker(settings)
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="worker-supervisor")
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.check_every):
            if self.worker.is_alive():
                continue
            for job in self.store.jobs_with_status("running"):
                lifecycle.fail(self.store, job["id"], "worker_died", WORKER_DIED)
            if not self._stop.is_set():
                self.restarts += 1
                self.worker = start_worker(self.settings)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.worker.terminate()
        self.worker.join(timeout=10)
