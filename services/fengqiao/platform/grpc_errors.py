"""The one place domain errors become gRPC statuses, with `google.rpc.BadRequest` field
violations for invalid input, and where each RPC is logged."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc
import structlog
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from fengqiao.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    FengqiaoError,
    InvalidArgument,
    NotFound,
    Unavailable,
)

log = structlog.get_logger()
Req = TypeVar("Req")
Resp = TypeVar("Resp")

_CODES: dict[type[FengqiaoError], int] = {
    InvalidArgument: code_pb2.INVALID_ARGUMENT,
    NotFound: code_pb2.NOT_FOUND,
    AlreadyExists: code_pb2.ALREADY_EXISTS,
    FailedPrecondition: code_pb2.FAILED_PRECONDITION,
    Unavailable: code_pb2.UNAVAILABLE,
}


# The status travels in trailing metadata, which clients cap at 8 KiB (base64 adds a
# third): past that a client sees RESOURCE_EXHAUSTED instead of the error. Field problems
# that echo a long value are shortened and the list is cut, saying how much was left out.
_MAX_STATUS_BYTES = 4096
_MAX_TEXT = 200


def _short(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def to_status(exc: FengqiaoError) -> status_pb2.Status:
    code = next((c for t, c in _CODES.items() if isinstance(exc, t)), code_pb2.INTERNAL)
    status = status_pb2.Status(code=code, message=_short(str(exc)))
    if isinstance(exc, InvalidArgument):
        bad = error_details_pb2.BadRequest()
        for i, v in enumerate(exc.violations):
            bad.field_violations.add(field=_short(v.field), description=_short(v.description))
            if bad.ByteSize() + status.ByteSize() > _MAX_STATUS_BYTES:
                del bad.field_violations[-1]
                left = len(exc.violations) - i
                bad.field_violations.add(
                    field="…", description=f"另有 {left} 处问题（{left} more）"
                )
                break
        detail = any_pb2.Any()
        detail.Pack(bad)
        status.details.append(detail)
    return status


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: FengqiaoError) -> NoReturn:
    await context.abort_with_status(rpc_status.to_status(to_status(exc)))
    raise AssertionError("abort_with_status returned")  # pragma: no cover


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Maps `FengqiaoError` to its status; logs every call as `rpc_finished`."""

    # grpc-stubs declares this method generic in a way no override satisfies under mypy.
    async def intercept_service(  # type: ignore[override]
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(("/grpc.health", "/grpc.reflection")):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _wrap_unary(method: str, inner: Any) -> Any:
    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(rpc=method):
            try:
                response = await inner(request, context)
            except FengqiaoError as exc:
                _finished(started, "error", exc)
                await _abort(context, exc)
            except Exception:
                log.exception("rpc_crashed")
                raise
            _finished(started, "ok")
            return response

    return call


def _wrap_stream(method: str, inner: Any) -> Any:
    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(rpc=method):
            try:
                async for item in inner(request, context):
                    yield item
            except FengqiaoError as exc:
                _finished(started, "error", exc)
                await _abort(context, exc)
            _finished(started, "ok")

    return call


def _finished(started: float, outcome: str, exc: FengqiaoError | None = None) -> None:
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    if exc is None:
        log.debug("rpc_finished", outcome=outcome, ms=elapsed_ms)
    else:
        log.info(
            "rpc_finished",
            outcome=outcome,
            ms=elapsed_ms,
            error=type(exc).__name__,
            detail=str(exc),
        )
