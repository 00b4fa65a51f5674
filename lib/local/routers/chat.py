"""/v1/chat/completions: answers from a base or tuned model, whole or streamed."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from lib.local.config import ServerSettings
from lib.local.decoding import Piece, PromptTooLongError, Sampling, generate
from lib.local.llama_process import DecoderDiedError
from lib.local.routers.common import APIError
from lib.local.serving import Engine, prompt_ids
from lib.local.store import LocalStore, new_id, now
from lib.local.tuned_models import adapter_path, tuned_models

MAX_ANSWER_TOKENS = 4096
MAX_CHOICES = 8  # answers to one request (``n``): as many as a model decodes together
AFTER_DEATH = "the server answers with PyTorch from now on."
log = logging.getLogger(__name__)


def _whole_characters(text: str) -> str:
    """Text that UTF-8 can encode: JSON's "\\ud800" escape gives Python a lone surrogate, which no tokenizer reads."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"text with an unpaired surrogate ({text[exc.start]!a}) at character {exc.start + 1}") from exc
    return text


class ContentPart(BaseModel):
    """One part of a message's content; only text parts are read (others are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")

    type: StrictStr = "text"
    text: Annotated[StrictStr, AfterValidator(_whole_characters)] | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_call_id, ...: passed to the chat template as given

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Annotated[StrictStr, AfterValidator(_whole_characters)] | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The body of POST /v1/chat/completions, with OpenAI's ranges; other fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_tokens: Annotated[StrictInt, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[StrictInt, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2, strict=True)] = 1.0
    top_p: Annotated[float, Field(gt=0, le=1, strict=True)] = 1.0
    seed: Annotated[StrictInt, Field(ge=-(2**63), lt=2**63)] | None = None
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    n: Annotated[StrictInt, Field(ge=1, le=MAX_CHOICES)] = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    rhyme_scheme: Literal["AABBA"] | None = None  # ours, not OpenAI's: lines end on rhymes (rhyme_guide)

    def sampling(self, choice: int = 0) -> Sampling:
        """How answer ``choice`` (of ``n``) is sampled: with a seed, each choice has its own (seed + choice)."""
        max_tokens = self.max_completion_tokens or self.max_tokens or 256
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        limit = min(max_tokens, MAX_ANSWER_TOKENS)
        seed = None if self.seed is None else self.seed + choice
        return Sampling(limit, self.temperature, self.top_p, seed, stop, self.rhyme_scheme)


def chat_router(store: LocalStore, settings: ServerSettings, engine: Engine) -> APIRouter:
    router = APIRouter()

    def start_answers(body: ChatRequest) -> tuple[list[int], list[Iterator[Piece]]]:
        """The prompt's token ids and the ``n`` answers to come (loading the model on first use: blocking work)."""
        model = body.model
        messages = [m.model_dump(exclude_none=True) for m in body.messages]
        if model in settings.base_models:
            loaded = engine.base(model)
        else:
            tuned = tuned_models(store)
            if model not in tuned:
                known = ", ".join([*settings.base_models, *tuned])
                raise APIError(
                    404, f"The model '{model}' does not exist. Models: {known}.", param="model", code="model_not_found"
                )
            loaded = engine.tuned(model, tuned[model]["base"], adapter_path(store, settings, model, tuned[model]))
        if loaded.busy():
            message = f"The local server has {loaded.waiting} answers waiting for this model: ask again shortly."
            raise APIError(503, message, code="server_busy", retry_after=5)
        ids = prompt_ids(loaded, messages)
        try:
            return ids, [generate(loaded, ids, body.sampling(i), shutdown=engine.stopping) for i in range(body.n)]
        except PromptTooLongError as exc:
            raise APIError(400, str(exc), param="messages", code="context_length_exceeded") from exc

    @router.post("/chat/completions", response_model=None)
    async def chat_completions(body: ChatRequest, request: Request) -> dict[str, Any] | StreamingResponse:
        model = body.model
        ids, answers = await anyio.to_thread.run_sync(start_answers, body)
        completion_id, created = new_id("chatcmpl"), now()
        if body.stream:
            usage = bool(body.stream_options and body.stream_options.include_usage)
            chunks = _stream(answers, len(ids), model, completion_id, created, usage)
            return StreamingResponse(_relay(chunks, request), media_type="text/event-stream")
        try:
            choices = await _collect(answers, request)
        except DecoderDiedError as exc:
            raise APIError(500, f"{exc}. This answer is lost; ask again: {AFTER_DEATH}", code="decoder_died") from exc
        if choices is None:  # the client left: nobody reads this, and the model is free again
            raise APIError(499, "The client closed the request before the answer was complete.")
        completion_tokens = sum(pieces[-1].tokens for pieces in choices)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": index,
                    "message": {"role": "assistant", "content": "".join(p.text for p in pieces), "refusal": None},
                    "finish_reason": pieces[-1].finish_reason or "stop",
                    "logprobs": None,
                }
                for index, pieces in enumerate(choices)
            ],
            "usage": {
                "prompt_tokens": len(ids),
                "completion_tokens": completion_tokens,
                "total_tokens": len(ids) + completion_tokens,
            },
        }

    return router


async def _collect(answers: list[Iterator[Piece]], request: Request) -> list[list[Piece]] | None:
    """Whole answers (decoded together, see ``_as_they_come``) in a worker thread, or None once the client has
    gone: then decoding stops at the next token and the model is free again (a client that gives up must not hold
    it for thousands of tokens)."""
    choices: list[list[Piece]] = [[] for _ in answers]
    gone = threading.Event()
    failed: list[Exception] = []  # raised after the task group, not inside it (where it would be grouped)

    def decode() -> None:
        pieces = _as_they_come(answers)
        try:
            for index, piece in pieces:
                choices[index].append(piece)
                if gone.is_set():
                    return
        except Exception as exc:
            failed.append(exc)
        finally:
            pieces.close()  # releases the model at once

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone.set()

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        await anyio.to_thread.run_sync(decode)
        group.cancel_scope.cancel()
    if failed:
        raise failed[0]
    return None if gone.is_set() else choices


def _produce(chunks: Iterator[str], out: queue.SimpleQueue[str | None], gone: threading.Event) -> None:
    """Decode in a thread of its own, stopping at the next token once the client is gone; an error becomes an
    error event, so the stream never ends silently. Closing the generator here releases the model at once."""
    try:
        for chunk in chunks:
            if gone.is_set():
                break
            out.put(chunk)
    except Exception as exc:
        log.exception("a streamed answer failed")
        after = f". This answer is lost: {AFTER_DEATH}" if isinstance(exc, DecoderDiedError) else ""
        error = {"message": f"The local server failed while answering: {exc}{after}", "type": "server_error"}
        out.put(f"data: {json.dumps({'error': error | {'param': None, 'code': None}})}\n\n")
    finally:
        if isinstance(chunks, Generator):
            chunks.close()
        out.put(None)


async def _relay(chunks: Iterator[str], request: Request) -> AsyncIterator[str]:
    """The chunks as the client reads them; when it disconnects (or the response is cancelled) decoding stops."""
    out: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    gone = threading.Event()
    threading.Thread(target=_produce, args=(chunks, out, gone), daemon=True, name="chat-stream").start()
    try:
        while (chunk := await anyio.to_thread.run_sync(out.get, abandon_on_cancel=True)) is not None:
            yield chunk
            if await request.is_disconnected():
                return
    finally:
        gone.set()


def _stream(
    answers: list[Iterator[Piece]], prompt_tokens: int, model: str, completion_id: str, created: int, usage: bool
) -> Iterator[str]:
    """Server-sent events of the answers as their pieces come, each chunk naming its choice's index."""

    def chunk(index: int | None, delta: dict[str, Any] | None, finish: str | None, **extra: Any) -> str:
        choice = {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice] if index is not None else [],
        }
        return f"data: {json.dumps(body | extra)}\n\n"

    completion_tokens = [0] * len(answers)
    for index in range(len(answers)):
        yield chunk(index, {"role": "assistant", "content": ""}, None)
    pieces = _as_they_come(answers)
    try:
        for index, piece in pieces:
            completion_tokens[index] = piece.tokens
            if piece.text:
                yield chunk(index, {"content": piece.text}, None)
            if piece.finish_reason:
                yield chunk(index, {}, piece.finish_reason)
    finally:
        pieces.close()  # releases the model even when the stream is abandoned
    if usage:
        counts = {"prompt_tokens": prompt_tokens, "completion_tokens": sum(completion_tokens)}
        yield chunk(None, None, None, usage=counts | {"total_tokens": prompt_tokens + sum(completion_tokens)})
    yield "data: [DONE]\n\n"


def _as_they_come(answers: list[Iterator[Piece]]) -> Generator[tuple[int, Piece]]:
    """Each answer's pieces with its index, in the order they are decoded. One answer is read here; several are
    read each in a thread of its own (so a model decodes them together). Closing this iterator, or an answer
    failing, stops every answer at its next piece and releases the model."""
    if len(answers) == 1:
        try:
            for piece in answers[0]:
                yield 0, piece
        finally:
            if isinstance(answers[0], Generator):
                answers[0].close()  # releases the model's lock even when the stream is abandoned
        return
    arrived: queue.SimpleQueue[tuple[int, Piece | Exception | None]] = queue.SimpleQueue()
    stop = threading.Event()

    def read(index: int, answer: Iterator[Piece]) -> None:
        try:
            for piece in answer:
                arrived.put((index, piece))
                if stop.is_set():
                    break
        except Exception as exc:
            arrived.put((index, exc))
        finally:
            if isinstance(answer, Generator):
                answer.close()
            arrived.put((index, None))

    for index, answer in enumerate(answers):
        threading.Thread(target=read, args=(index, answer), daemon=True, name=f"chat-choice-{index}").start()
    try:
        running = len(answers)
        while running:
            index, found = arrived.get()
            if found is None:
                running -= 1
            elif isinstance(found, Exception):
                raise found
            else:
                yield index, found
    finally:
        stop.set()
