"""python -m lib.local [--host 127.0.0.1] [--port 8765] [--api-key-file FILE]: the local OpenAI-compatible server.

The key can also come from STUDIO_LOCAL_API_KEY (the app passes its own key that way)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lib.local.config import ServerSettings, studio_data_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.local", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--api-key-file", type=Path, help="require the bearer key in this file (or set STUDIO_LOCAL_API_KEY)"
    )
    parser.add_argument("--api-key", help=argparse.SUPPRESS)  # visible to other users in `ps`: prefer the above
    parser.add_argument(
        "--max-upload-mb", type=int, default=256, help="refuse uploads larger than this (default 256; OpenAI: 512)"
    )
    parser.add_argument(
        "--base-model", action="append", default=[], metavar="NAME=PATH",
        help="offer a Hugging Face model folder or a .gguf file as base model NAME (repeatable; remembered)",
    )  # fmt: skip
    parser.add_argument(
        "--train-processes", default="1", metavar="N",
        help="train each job in N data-parallel processes (default 1; 'auto': one per GPU)",
    )  # fmt: skip
    parser.add_argument(
        "--public-host", action="append", default=[], metavar="NAME",
        help="a name clients reach this server by (its DNS name behind a proxy); repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--exit-with", type=int, metavar="PID", help="stop when process PID ends (the app that started it)"
    )
    args = parser.parse_args(argv)
    os.umask(0o077)  # its database, uploads and adapters are the user's data: readable by them only
    try:
        import uvicorn

        from lib.local.models import ModelUnavailableError
        from lib.local.server import create_app
    except ImportError as exc:
        print(f"The local provider needs its packages: pip install -r requirements-local.txt ({exc})", file=sys.stderr)
        return 2
    try:
        key = (
            args.api_key
            or os.environ.get("STUDIO_LOCAL_API_KEY")
            or (args.api_key_file.read_text().strip() if args.api_key_file else None)
        )
    except OSError as exc:
        print(f"Cannot read the API key file {args.api_key_file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    processes = train_processes(args.train_processes)
    if processes is None:
        print(f"--train-processes must be a number from 1 to 64 or 'auto', not '{args.train_processes}'.",
              file=sys.stderr)  # fmt: skip
        return 2
    settings = ServerSettings(
        studio_data_dir() / "local",
        host=args.host,
        port=args.port,
        api_key=key or None,
        max_upload_bytes=args.max_upload_mb * 2**20,
        train_processes=processes,
        public_hosts=tuple(args.public_host),
    )
    if not key and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"Refusing to listen on {args.host} without an API key: anyone on that network could train and "
              "read your models. Set STUDIO_LOCAL_API_KEY or --api-key-file, then start again.",
              file=sys.stderr)  # fmt: skip
        return 2
    if (refused := add_base_models(settings, args.base_model)) is not None:
        print(refused, file=sys.stderr)
        return 2
    if args.exit_with:
        from lib.local.worker import exit_with

        exit_with(args.exit_with)
    try:
        app = create_app(settings)
        print(f"Local provider on http://{args.host}:{args.port}/v1 (data in {settings.data_dir})", flush=True)
        # On SIGTERM: requests get a few seconds, then the answers in progress end at their next token (lifespan).
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=3)
    except ModelUnavailableError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


def train_processes(given: str) -> int | None:
    """How many training processes ``--train-processes`` asks for; None when it is not a count."""
    if given == "auto":
        import torch

        return max(1, torch.cuda.device_count())
    return int(given) if given.isdigit() and 1 <= int(given) <= 64 else None


def add_base_models(settings: ServerSettings, given: list[str]) -> str | None:
    """Check and remember each ``NAME=PATH``; the one line refusing the first that cannot be used."""
    from lib.local.base_models import BaseModelRefusedError, add
    from lib.local.models import BASE_MODELS, compute_device, compute_dtype, model_folder

    bytes_per_weight = compute_dtype(compute_device()).itemsize
    for pair in given:
        name, equals, path = pair.partition("=")
        if not equals or not name or not path:
            return f"--base-model takes NAME=PATH (a model folder or a .gguf file), not '{pair}'."
        try:
            added = add(settings.data_dir, name, Path(path), set(BASE_MODELS), bytes_per_weight)
            model_folder(settings.models_dir, added.name, added.reference)
        except BaseModelRefusedError as exc:
            return f"--base-model {name}: {exc}"
        print(f"Base model {name}: {added.path} ({added.architecture}, {added.parameters / 1e6:,.0f}M parameters, "
              f"chat template: {added.template})", flush=True)  # fmt: skip
    return None


if __name__ == "__main__":
    sys.exit(main())
