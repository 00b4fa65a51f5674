"""Soak: concurrent chat and upload clients against the local server while it trains, for a bounded time.

    python -m bench.soak [--seconds 60] [--chat-clients 4] [--upload-clients 2]

Starts the real local provider (SmolLM2) in a temporary data folder, starts a training job, and has the
clients send requests to 127.0.0.1 only until the time is up. Prints requests served, errors by status,
and p50/p99/max latency per kind; the target is zero 5xx and no request slower than 10 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections import Counter

import openai
from openai.types.chat import ChatCompletionMessageParam

from bench import machine
from lib.settings import PROJECT_DIR
from tests.local_server import free_port

SMOLLM2 = "smollm2-135m-instruct"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--chat-clients", type=int, default=4)
    parser.add_argument("--upload-clients", type=int, default=2)
    args = parser.parse_args()
    print(machine())

    from lib.train import local_client

    data = tempfile.mkdtemp(prefix="studio-soak-")
    os.environ |= {"STUDIO_DATA_DIR": data, "STUDIO_LOCAL_URL": f"http://127.0.0.1:{free_port()}/v1"}
    server = local_client.start()
    try:
        while not local_client.answers():
            assert server.poll() is None, local_client.log_path().read_text()
            time.sleep(0.5)
        client = local_client.client(timeout=60)
        sample = (PROJECT_DIR / "data" / "limericks.jsonl").read_bytes()
        uploaded = client.files.create(file=("sample.jsonl", sample), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model=SMOLLM2, training_file=uploaded.id, hyperparameters={"n_epochs": 5})
        while client.fine_tuning.jobs.retrieve(job.id).status != "running":
            time.sleep(0.2)
        warm_up: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello"}]
        client.chat.completions.create(model=SMOLLM2, messages=warm_up, max_tokens=2)  # the one-time load: not measured
        print(f"training {job.id} while {args.chat_clients} chat and {args.upload_clients} upload clients run")

        latencies: dict[str, list[float]] = {"chat": [], "stream": [], "upload": [], "read": []}
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds

        def record(kind: str, started: float, outcome: str) -> None:
            with lock:
                latencies[kind].append(time.monotonic() - started)
                outcomes[outcome] += 1

        def call(kind: str, request: object) -> None:
            started = time.monotonic()
            try:
                request()  # type: ignore[operator]
                record(kind, started, "ok")
            except openai.APIStatusError as error:
                record(kind, started, f"{error.status_code}")
            except openai.APIError as error:
                record(kind, started, type(error).__name__)

        def chatter(n: int) -> None:
            mine = local_client.client(timeout=60)
            question: list[ChatCompletionMessageParam] = [{"role": "user", "content": f"Tell me about element {n}."}]
            while time.monotonic() < deadline:
                if n % 2:
                    call("chat", lambda: mine.chat.completions.create(model=SMOLLM2, messages=question, max_tokens=24))
                else:

                    def stream() -> None:
                        chunks = mine.chat.completions.create(
                            model=SMOLLM2, messages=question, max_tokens=24, stream=True
                        )
                        for _ in chunks:
                            pass

                    call("stream", stream)

        def uploader(n: int) -> None:
            mine = local_client.client(timeout=60)
            while time.monotonic() < deadline:
                call("upload", lambda: mine.files.create(file=(f"u{n}.jsonl", sample[:4000]), purpose="fine-tune"))
                call("read", lambda: mine.fine_tuning.jobs.list_events(job.id, limit=20))

        threads = [threading.Thread(target=chatter, args=(i,)) for i in range(args.chat_clients)]
        threads += [threading.Thread(target=uploader, args=(i,)) for i in range(args.upload_clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        status = client.fine_tuning.jobs.retrieve(job.id).status

        served = sum(outcomes.values())
        print(f"\n{served} requests in {args.seconds:.0f} s; outcomes: {dict(outcomes)}; job {status} meanwhile")
        print(f"{'kind':<8}{'n':>6}{'p50 s':>9}{'p99 s':>9}{'max s':>9}")
        for kind, values in latencies.items():
            if values:
                ordered = sorted(values)
                p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
                print(f"{kind:<8}{len(values):>6}{statistics.median(values):>9.2f}{p99:>9.2f}{ordered[-1]:>9.2f}")
        errors_5xx = sum(n for outcome, n in outcomes.items() if outcome.startswith("5"))
        slowest = max((v for values in latencies.values() for v in values), default=0.0)
        print(f"5xx: {errors_5xx} (target 0); slowest request {slowest:.2f} s (target <= 10 s)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
