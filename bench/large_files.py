"""Large files: `validate` on a million lines, and the local server's memory while it takes a 200 MB upload
and validates it for a job.

Run: python -m bench.large_files [--lines 1000000] [--upload-mb 200]
Baseline: the whole-file reader (`read_jsonl` on the file's bytes), which `validate` and the server used before.
Each arm runs in a fresh process; peak memory is that process's high-water mark (ru_maxrss) less its size
once imports are done.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import machine, ratio
from lib.settings import PROJECT_DIR
from tests.local_server import free_port


def make_file(path: Path, lines: int, broken: bool = True) -> None:
    """``lines`` distinct three-message chats (about 220 bytes each), with ``broken`` one in a thousand empty."""
    with path.open("w") as out:
        for i in range(lines):
            if broken and i % 1000 == 7:
                out.write('{"messages": [{"role": "user", "content": ""}]}\n')
                continue
            example = {"messages": [
                {"role": "system", "content": "Elle answers with a limerick."},
                {"role": "user", "content": f"Tell me about element {i}."},
                {"role": "assistant", "content": f"Element {i} is grand,\nthe finest in the land."},
            ]}  # fmt: skip
            out.write(json.dumps(example) + "\n")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def arm(name: str, path: Path) -> None:
    """One arm in this process: prints {"arm", "seconds", "peak_mb", "findings"} as one JSON line."""
    from lib.openai_format.jsonl import read_jsonl
    from lib.openai_format.stream import check_jsonl_file

    ready = _peak_mb()
    start = time.perf_counter()
    if name == "streamed":
        findings = len(check_jsonl_file(path).findings)
    else:
        findings = len(read_jsonl(path.read_bytes()).findings)
    seconds = time.perf_counter() - start
    print(json.dumps({"arm": name, "seconds": seconds, "peak_mb": _peak_mb() - ready, "findings": findings}))


def _run_arm(name: str, path: Path) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.large_files", "--arm", name, "--file", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_DIR, check=True)
    return dict(json.loads(done.stdout.splitlines()[-1]))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakWatch:
    """The highest resident memory of a process, sampled every 20 ms while the block runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def __enter__(self) -> PeakWatch:
        self.before = _rss_mb(self.pid)
        self.peak = self.before
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_mb(self.pid))

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def server_memory(path: Path) -> None:
    """The local server's resident memory before, during a streamed upload of ``path``, and while it validates
    the file for a job (cancelled once validated, before any training)."""
    from lib.local.models import SMOLLM2
    from lib.train import local_client

    os.environ |= {
        "STUDIO_DATA_DIR": tempfile.mkdtemp(prefix="studio-bench-files-"),
        "STUDIO_LOCAL_URL": f"http://127.0.0.1:{free_port()}/v1",
    }
    server = local_client.start()
    try:
        while not local_client.answers():
            assert server.poll() is None, local_client.log_path().read_text()
            time.sleep(0.5)
        time.sleep(5)  # the llama.cpp self-test and first imports settle
        client = local_client.client(timeout=600)
        size_mb = path.stat().st_size / 2**20
        with PeakWatch(server.pid) as upload, path.open("rb") as stream:
            start = time.perf_counter()
            uploaded = client.files.create(file=(path.name, stream), purpose="fine-tune")
            upload_s = time.perf_counter() - start
        with PeakWatch(server.pid) as validating:
            start = time.perf_counter()
            job = client.fine_tuning.jobs.create(model=SMOLLM2, training_file=uploaded.id)
            while (status := client.fine_tuning.jobs.retrieve(job.id).status) == "validating_files":
                time.sleep(0.05)
            validate_s = time.perf_counter() - start
        if status not in ("failed", "cancelled", "succeeded"):
            client.fine_tuning.jobs.cancel(job.id)
        print(f"server: {size_mb:.0f} MB upload in {upload_s:.1f} s, resident {upload.before:.0f} MB before, "
              f"peak {upload.peak:.0f} MB (+{upload.peak - upload.before:.0f} MB)")  # fmt: skip
        print(f"server: validated for a job in {validate_s:.1f} s ({status}), resident {validating.before:.0f} MB "
              f"before, peak {validating.peak:.0f} MB (+{validating.peak - validating.before:.0f} MB)")  # fmt: skip
        ratio("server_upload_growth_vs_file_size", (upload.peak - upload.before) / size_mb)
        ratio("server_validation_growth_vs_file_size", (validating.peak - validating.before) / size_mb)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--upload-mb", type=int, default=200)
    parser.add_argument("--arm", choices=("streamed", "whole"), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm:
        arm(args.arm, args.file)
        return
    print(machine())
    folder = Path(tempfile.mkdtemp(prefix="bench-large-"))
    lines = folder / "million.jsonl"
    make_file(lines, args.lines)
    print(f"{args.lines:,} lines, {lines.stat().st_size / 2**20:.0f} MB")
    streamed, whole = _run_arm("streamed", lines), _run_arm("whole", lines)
    assert streamed["findings"] == whole["findings"], (streamed, whole)
    print("| reader | seconds | peak memory above start |\n| --- | --- | --- |")
    for found in (streamed, whole):
        print(f"| {found['arm']} | {found['seconds']:.1f} s | {found['peak_mb']:.0f} MB |")
    ratio("validate_peak_memory_whole_vs_streamed", whole["peak_mb"] / max(streamed["peak_mb"], 1.0))
    ratio("validate_speed_streamed_vs_whole", whole["seconds"] / streamed["seconds"])
    upload = folder / "upload.jsonl"
    make_file(upload, int(args.lines * args.upload_mb / (lines.stat().st_size / 2**20)), broken=False)
    server_memory(upload)


if __name__ == "__main__":
    main()
