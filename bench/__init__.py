"""Benchmarks; results in docs/benchmarks.md. Each prints the machine first and, after its table, lines
``RATIO <name> <value>`` and ``SECONDS <name> <value>`` for scripts to compare runs."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def machine() -> str:
    """The CPU model, its cores, and whether it computes bf16 natively (the local trainer's own test)."""
    from lib.local.models import native_bf16_cpu

    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
                break
    return f"machine: {model}, {os.cpu_count()} cores, native bf16: {'yes' if native_bf16_cpu() else 'no'}"


def ratio(name: str, value: float) -> None:
    print(f"RATIO {name} {value:.3f}")


def seconds(name: str, value: float) -> None:
    print(f"SECONDS {name} {value:.3f}")


def sample_examples() -> list[Any]:
    """The 40 sample limericks (data/limericks.jsonl), read as the app reads them."""
    from lib.openai_format.jsonl import read_jsonl
    from lib.settings import PROJECT_DIR

    return [e for _, e in read_jsonl((PROJECT_DIR / "data" / "limericks.jsonl").read_bytes()).valid_examples()]


def prepared_folder() -> Path:
    """SmolLM2 prepared into a fresh temporary folder (as the local server does once)."""
    from lib.local.models import BASE_MODELS, SMOLLM2, model_folder

    return model_folder(Path(tempfile.mkdtemp(prefix="bench-models-")), SMOLLM2, BASE_MODELS[SMOLLM2])


def run_arms(module: str, arms: Sequence[str], repeats: int) -> dict[str, list[dict[str, Any]]]:
    """Each training arm of ``module`` in a process of its own (``--arm A --folder F`` prints one JSON line),
    interleaved, ``repeats`` times, on one prepared SmolLM2 folder; the figures of every run by arm. Each
    repeat starts with the next arm, so that no arm always runs first (right after the folder was written)."""
    from lib.settings import PROJECT_DIR

    folder = prepared_folder()
    os.sync()  # the prepared weights on disk before the first timed run
    runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in arms}
    for repeat in range(repeats):
        for arm in [*arms[repeat % len(arms) :], *arms[: repeat % len(arms)]]:
            command = [sys.executable, "-m", module, "--arm", arm, "--folder", str(folder)]
            done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_DIR)
            if done.returncode != 0:
                sys.exit(f"{arm} failed:\n{done.stderr[-3000:]}")
            runs[arm].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"  run {repeat + 1} {arm}: {runs[arm][-1]['seconds']:.1f} s", flush=True)
    return runs


def median(runs: dict[str, list[dict[str, Any]]], arm: str, key: str) -> float:
    return statistics.median(run[key] for run in runs[arm])


@contextmanager
def local_server(data: Path | None, prefix: str) -> Iterator[Any]:
    """The real local server on a free port over ``data`` (a folder kept between runs; else a new temporary one),
    started, answering, and stopped at the end of the block; yields an openai client for it."""
    from tests.local_server import free_port

    folder = data or Path(tempfile.mkdtemp(prefix=prefix))
    os.environ |= {"STUDIO_DATA_DIR": str(folder), "STUDIO_LOCAL_URL": f"http://127.0.0.1:{free_port()}/v1"}
    from lib.train import local_client

    server = local_client.start()
    try:
        while not local_client.answers():
            assert server.poll() is None, local_client.log_path().read_text()[-3000:]
            time.sleep(0.5)
        yield local_client.client()
    finally:
        server.terminate()
        server.wait()
