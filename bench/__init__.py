"""Benchmarks; results in docs/benchmarks.md. Each prints the machine first and, after its table, lines
``RATIO <name> <value>`` and ``SECONDS <name> <value>`` for scripts to compare runs."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """The CPU model, its cores, and whether it computes bf16 natively (AVX512-BF16 or AMX)."""
    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    native = bool(flags & {"avx512_bf16", "amx_bf16"})
    return f"machine: {model}, {os.cpu_count()} cores, native bf16: {'yes' if native else 'no'}"


def ratio(name: str, value: float) -> None:
    print(f"RATIO {name} {value:.3f}")


def seconds(name: str, value: float) -> None:
    print(f"SECONDS {name} {value:.3f}")
