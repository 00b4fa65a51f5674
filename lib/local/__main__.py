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
    settings = ServerSettings(
        studio_data_dir() / "local",
        host=args.host,
        port=args.port,
        api_key=key or None,
        max_upload_bytes=args.max_upload_mb * 2**20,
    )
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


if __name__ == "__main__":
    sys.exit(main())
