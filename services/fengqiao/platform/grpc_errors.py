"""The one place domain errors become gRPC statuses, each with its details:
`google.rpc.BadRequest` field violations for invalid input, `ResourceInfo` for what is
not found or already exists, `PreconditionFailure` for what the current state forbids and
`RetryInfo` for what is worth retrying; and where each RPC is logged.

NATS away or restarting (`bus.BUS_UNAVAILABLE`) is `UNAVAILABLE` too, never `UNKNOWN`:
standard gRPC retry policies retry UNAVAILABLE, and every write is idempotent on the
caller's `request_id` / `event_id`, so retrying with the same id finishes what was begun
(a record stored before the publish failed is found, and published, by the retry, or by
intake's sweeper if the caller never comes back)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

import grpc
import structlog
from google.protobuf import any_pb2, duration_pb2
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
from fengqiao.platform import tracing
from fengqiao.platform.bus import BUS_UNAVAILABLE
from fengqiao.platform.logs import bound
from fengqiao.platform.tracing import TRACEPARENT

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
# A description lists the allowed values in full, so it may be longer than a field path.
_MAX_STATUS_BYTES = 4096
_MAX_TEXT = 200
_MAX_DESCRIPTION = 1000


def _short(text: str, limit: int = _MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_status(exc: FengqiaoError) -> status_pb2.Status:
    code = next((c for t, c in _CODES.items() if isinstance(exc, t)), code_pb2.INTERNAL)
    status = status_pb2.Status(code=code, message=_short(str(exc)))
    if isinstance(exc, InvalidArgument):
        bad = error_details_pb2.BadRequest()
        for i, v in enumerate(exc.violations):
            bad.field_violations.add(
                field=_short(v.field), description=_short(v.description, _MAX_DESCRIPTION)
            )
            if bad.ByteSize() + status.ByteSize() > _MAX_STATUS_BYTES:
                del bad.field_violations[-1]
                left = len(exc.violations) - i
                bad.field_violations.add(
                    field="…", description=f"另有 {left} 处问题（{left} more）"
                )
                break
        _add_detail(status, bad)
    if isinstance(exc, NotFound | AlreadyExists):
        _add_detail(
            status,
            error_details_pb2.ResourceInfo(
                resource_type=exc.resource_type,
                resource_name=exc.resource_name,
                description=status.message,
            ),
        )
    if isinstance(exc, FailedPrecondition):
        failure = error_details_pb2.PreconditionFailure()
        failure.violations.add(type=exc.kind, subject=exc.subject, description=status.message)
        _add_detail(status, failure)
    if isinstance(exc, Unavailable):
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(round(exc.retry_after_seconds * 1000))
        _add_detail(status, error_details_pb2.RetryInfo(retry_delay=delay))
    return status


def _add_detail(status: status_pb2.Status, message: Any) -> None:
    detail = any_pb2.Any()
    detail.Pack(message)
    status.details.append(detail)


def bus_unavailable(exc: Exception) -> Unavailable:
    """The answer to a call that NATS failed (`exc` one of `BUS_UNAVAILABLE`)."""
    return Unavailable(
        "消息总线暂时不可用，请稍后用同一 request_id（登记事件用同一 event_id）重试，"
        "已受理的部分不会重复（the message bus is unavailable for now: retry with the same "
        f"request_id / event_id; nothing is done twice）: {type(exc).__name__}"
    )


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


@asynccontextmanager
async def _boundary(
    method: str, context: grpc.aio.ServicerContext[Any, Any]
) -> AsyncIterator[None]:
    """One RPC's error boundary: a domain error or NATS away becomes its status, anything
    else is logged as `rpc_crashed`; every outcome is timed and logged."""
    started = time.perf_counter()
    metadata = context.invocation_metadata() or ()
    parent = {k: v for k, v in metadata if k == TRACEPARENT and isinstance(v, str)}
    with bound(rpc=method), tracing.continued(parent, method):
        try:
            yield
        except FengqiaoError as exc:
            _finished(started, "error", exc)
            await _abort(context, exc)
        except BUS_UNAVAILABLE as exc:
            unavailable = bus_unavailable(exc)
            _finished(started, "error", unavailable)
            await _abort(context, unavailable)
        except Exception:
            log.exception("rpc_crashed")
            raise
        _finished(started, "ok")


def _wrap_unary(method: str, inner: Any) -> Any:
    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        async with _boundary(method, context):
            response = await inner(request, context)
        return response

    return call


def _wrap_stream(method: str, inner: Any) -> Any:
    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        async with _boundary(method, context):
            async for item in inner(request, context):
                yield item

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
