"""Server reflection answers under grpc.reflection.v1 and v1alpha alike."""

from __future__ import annotations

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2

from fengqiao.stack import Stack

REQUEST = reflection_pb2.ServerReflectionRequest


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
async def test_reflection_lists_and_describes_the_services(stack: Stack, version: str) -> None:
    method = f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.port('intake')}") as channel:
        call = channel.stream_stream(
            method,
            request_serializer=REQUEST.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        requests = [
            REQUEST(list_services=""),
            REQUEST(file_containing_symbol="fengqiao.v1.IntakeService"),
            REQUEST(file_containing_symbol=f"grpc.reflection.{version}.ServerReflection"),
        ]
        listed, intake, own = [r async for r in call(iter(requests))]
    names = {s.name for s in listed.list_services_response.service}
    assert {"fengqiao.v1.IntakeService", "grpc.health.v1.Health"} <= names
    assert {
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names
    assert intake.file_descriptor_response.file_descriptor_proto
    assert own.file_descriptor_response.file_descriptor_proto, own.error_response
