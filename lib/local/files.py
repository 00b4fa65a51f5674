"""Uploaded files: stored as they came, one per id, and read back as training examples."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lib.local.config import ServerSettings
from lib.local.store import LocalStore, new_id, now
from lib.openai_format.examples import is_preference
from lib.openai_format.rules import MIN_EXAMPLES
from lib.openai_format.stream import check_jsonl_file


def file_path(settings: ServerSettings, file_id: str) -> Path:
    return settings.files_dir / file_id


class UploadTooLargeError(ValueError):
    """An upload over the server's limit (``--max-upload-mb``)."""


def save_file(
    store: LocalStore, settings: ServerSettings, content: bytes, filename: str, purpose: str
) -> dict[str, Any]:
    return save_chunks(store, settings, [content], filename, purpose)


def _size(n: int) -> str:
    return f"{n // 2**20:,} MB" if n >= 2**20 else f"{n:,} bytes"


def save_chunks(
    store: LocalStore, settings: ServerSettings, chunks: Iterable[bytes], filename: str, purpose: str
) -> dict[str, Any]:
    """Store an upload as it arrives, chunk by chunk (memory stays flat whatever its size), up to the server's
    limit; written whole or not at all: a full disk or a file over the limit leaves nothing behind."""
    file_id = new_id("file")
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    path = file_path(settings, file_id)
    partial = path.with_suffix(".partial")
    size = 0
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > settings.max_upload_bytes:
                    raise UploadTooLargeError(
                        f"The file is larger than the {_size(settings.max_upload_bytes)} this server accepts "
                        "(start it with --max-upload-mb to change that)."
                    )
                out.write(chunk)
        partial.replace(path)
        obj: dict[str, Any] = {"id": file_id, "object": "file", "bytes": size, "created_at": now(),
                               "filename": filename, "purpose": purpose, "status": "processed"}  # fmt: skip
        return store.insert("files", obj)
    except BaseException:
        partial.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        raise


def read_examples(
    settings: ServerSettings, file_id: str, minimum: int = MIN_EXAMPLES, method: str = "supervised", keep: bool = True
) -> tuple[list[Any], str | None]:
    """The examples of an uploaded JSONL file, or the first problem (with its line) when it has errors or a line
    the job's method cannot train on (DPO: preference lines only; supervised: chats only).

    The file is read line by line: with ``keep`` False (validating a job's files) memory stays flat whatever its
    size, and nothing but the problem is returned."""
    examples: list[Any] = []
    wrong: list[int] = []

    def take(line: int, example: Any) -> None:
        if is_preference(example) != (method == "dpo") and not wrong:
            wrong.append(line)
        if keep and not wrong:
            examples.append(example)

    try:
        checked = check_jsonl_file(file_path(settings, file_id), take)
    except OSError as exc:
        return [], f"The file cannot be read: {exc.strerror or exc}."
    if errors := checked.errors:
        first = errors[0]
        where = "The file" if first.line is None else f"Line {first.line}"
        more = f" ({len(errors) - 1} more problems)" if len(errors) > 1 else ""
        return [], f"{where}: {first.message}{more}"
    if wrong:
        if method == "dpo":
            return [], (f"Line {wrong[0]}: a DPO job trains on preference lines (input, preferred_output, "
                         "non_preferred_output); this line is a chat.")  # fmt: skip
        return [], f"Line {wrong[0]}: a preference line needs a job with method 'dpo'."
    if checked.valid < minimum:
        noun = "example" if checked.valid == 1 else "examples"
        return [], f"The file has {checked.valid} {noun}; at least {minimum} are needed."
    return examples, None
