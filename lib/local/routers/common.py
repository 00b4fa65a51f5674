"""What every router shares: errors in OpenAI's shape and cursor pages."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from lib.local.store import LocalStore

MAX_PAGE = 100


class APIError(Exception):
    """An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None, retry_after: int = 0
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.retry_after = retry_after  # seconds, said in a Retry-After header (0: none)


def error_body(
    status: int, message: str, param: str | None = None, code: str | None = None, retry_after: int = 0
) -> JSONResponse:
    kind = "authentication_error" if status == 401 else "server_error" if status >= 500 else "invalid_request_error"
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def list_page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def page_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise APIError(400, f"limit must be between 1 and {MAX_PAGE}.", param="limit")
    return limit


def existing(store: LocalStore, table: str, noun: str, shown: int = 5) -> str:
    """ "Files (newest first): file-a, file-b, ..." for an error message; says so when there are none."""
    newest, more = store.page(table, None, shown)
    if not newest:
        return f"There are no {noun.lower()} yet."
    return f"{noun} (newest first): {', '.join(o['id'] for o in newest)}{', …' if more else ''}."
