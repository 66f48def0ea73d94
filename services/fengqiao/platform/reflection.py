"""gRPC server reflection under both of its names: `grpc.reflection.v1`, which current
clients (grpcurl, Postman, grpcui) speak first, and `grpc.reflection.v1alpha`, which older
ones speak. The two protocols are the same messages in two packages, so their bytes on
the wire are the same: one servicer (grpcio-reflection's, which ships only v1alpha)
answers both, and the v1 file, made from the v1alpha one, is put in the descriptor pool
so that a client can describe the v1 service too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

V1_SERVICE: Final = "grpc.reflection.v1.ServerReflection"
V1ALPHA_SERVICE: Final = reflection.SERVICE_NAME
_V1_FILE: Final = "grpc/reflection/v1/reflection.proto"


def _add_v1_file() -> None:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    alpha = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(alpha)
    old, new = f".{alpha.package}.", ".grpc.reflection.v1."
    v1 = descriptor_pb2.FileDescriptorProto()
    v1.CopyFrom(alpha)
    v1.name, v1.package = _V1_FILE, "grpc.reflection.v1"
    for message in v1.message_type:
        for field in message.field:
            if field.HasField("type_name"):
                field.type_name = field.type_name.replace(old, new)
    for service in v1.service:
        for method in service.method:
            method.input_type = method.input_type.replace(old, new)
            method.output_type = method.output_type.replace(old, new)
    pool.AddSerializedFile(v1.SerializeToString())


def enable_reflection(server: grpc.aio.Server, service_names: Sequence[str]) -> None:
    """Serve reflection v1 and v1alpha on `server`, listing `service_names` and both."""
    _add_v1_file()
    servicer: Any = reflection.aio.ReflectionServicer((*service_names, V1_SERVICE, V1ALPHA_SERVICE))
    # grpcio-reflection's generated registration function carries no annotations.
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    v1 = grpc.method_handlers_generic_handler(
        V1_SERVICE,
        {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((v1,))
