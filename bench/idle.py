"""Idle CPU of the app's process: one open browser tab, nobody clicking, for a fixed time.

    python -m bench.idle [--seconds 30]

Runs `streamlit run app.py` twice in one go — with the project's config (no file watcher) and with the
watcher on (`--server.fileWatcherType auto`, Streamlit's default, the baseline) — opens the app in headless
Chromium, lets the first run settle, then reads the process's CPU time from /proc over the window.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import machine
from lib.settings import PROJECT_DIR
from tests.local_server import free_port

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def idle_share(extra: list[str], seconds: float) -> float:
    from playwright.sync_api import sync_playwright

    port = free_port()
    data = tempfile.mkdtemp(prefix="studio-idle-")
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", *extra]  # fmt: skip
    environment = os.environ | {"STUDIO_DATA_DIR": data, "STUDIO_LOCAL_AUTOSTART": "0"}
    app = subprocess.Popen(
        command, cwd=PROJECT_DIR, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(url)
            page.get_by_text("Load the Elle sample").wait_for(timeout=60_000)
            time.sleep(5)  # let the first run and any start-up scanning finish
            before, started = cpu_seconds(app.pid), time.monotonic()
            time.sleep(seconds)
            used = cpu_seconds(app.pid) - before
            share = used / (time.monotonic() - started)
            browser.close()
        return share
    finally:
        app.terminate()
        app.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    print(machine())
    ours = idle_share([], args.seconds)
    watcher = idle_share(["--server.fileWatcherType", "auto"], args.seconds)
    print(f"idle CPU of the app's process over {args.seconds:.0f} s with one tab open:")
    print(f"  project config (no file watcher): {ours:6.1%} of a core")
    print(f"  file watcher on (baseline):       {watcher:6.1%} of a core")


if __name__ == "__main__":
    main()
