"""/v1/files: upload, list, retrieve, download and delete files."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import FileResponse, Response

from lib.local.config import ServerSettings
from lib.local.files import UploadTooLargeError, file_path, save_chunks
from lib.local.routers.common import APIError, existing, list_page
from lib.local.store import LocalStore

CHUNK_BYTES = 2**20
PURPOSES = ("fine-tune", "fine-tune-results", "batch", "assistants", "user_data", "evals", "vision")


def _chunks(file: UploadFile) -> Iterator[bytes]:
    """The upload's bytes, a megabyte at a time, read from a worker thread (UploadFile's file is a plain file)."""
    while chunk := file.file.read(CHUNK_BYTES):
        yield chunk


def files_router(store: LocalStore, settings: ServerSettings) -> APIRouter:
    router = APIRouter()

    def get_file(file_id: str) -> dict[str, Any]:
        found = store.get("files", file_id)
        if found is None:
            raise APIError(404, f"No such File object: {file_id}. {existing(store, 'files', 'Files')}", param="id")
        return found

    @router.post("/files")
    async def create_file(file: Annotated[UploadFile, File()], purpose: Annotated[str, Form()]) -> dict[str, Any]:
        if purpose not in PURPOSES:
            raise APIError(400, f"Invalid purpose '{purpose}'. Use one of: {', '.join(PURPOSES)}.", param="purpose")
        try:  # a megabyte at a time from the spooled upload, each written out before the next is read
            return await anyio.to_thread.run_sync(
                save_chunks, store, settings, _chunks(file), file.filename or "upload.jsonl", purpose
            )
        except UploadTooLargeError as exc:
            raise APIError(413, str(exc), param="file", code="file_too_large") from exc
        except (OSError, sqlite3.Error) as exc:  # nothing is left behind: the upload can simply be tried again
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            message = f"The file could not be stored: {reason}. Free some disk space and upload it again."
            raise APIError(500, message) from exc

    @router.get("/files")
    def list_files(
        purpose: str | None = None,
        after: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,  # OpenAI's range: larger is a 400, never a 500
        order: str = "desc",
    ) -> dict[str, Any]:
        data, has_more = store.page("files", after, limit, newest_first=order != "asc")
        return list_page([f for f in data if purpose is None or f["purpose"] == purpose], has_more)

    @router.get("/files/{file_id}")
    def retrieve_file(file_id: str) -> dict[str, Any]:
        return get_file(file_id)

    @router.get("/files/{file_id}/content")
    def file_content(file_id: str) -> Response:
        found = get_file(file_id)
        return FileResponse(file_path(settings, found["id"]), media_type="application/octet-stream")  # streamed

    @router.delete("/files/{file_id}")
    def delete_file(file_id: str) -> dict[str, Any]:
        get_file(file_id)
        store.delete("files", file_id)
        file_path(settings, file_id).unlink(missing_ok=True)
        return {"id": file_id, "object": "file", "deleted": True}

    return router
