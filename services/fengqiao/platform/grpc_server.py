"""gRPC server bootstrap: health, reflection (v1 and v1alpha), the error interceptor,
graceful stop."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import SERVICE_NAME as HEALTH_SERVICE
from grpc_health.v1.health import aio as health_aio

from fengqiao.platform.grpc_errors import ErrorInterceptor
from fengqiao.platform.grpc_tls import PLAIN_GRPC, GrpcTls
from fengqiao.platform.reflection import enable_reflection

Register = Callable[[grpc.aio.Server], None]
STOP_GRACE_SECONDS = 5.0


class GrpcServer:
    """A started `grpc.aio.Server` with the standard health and reflection services."""

    def __init__(
        self, server: grpc.aio.Server, port: int, health: health_aio.HealthServicer
    ) -> None:
        self.server = server
        self.port = port
        self._health = health

    @classmethod
    async def start(
        cls,
        addr: str,
        register: Register,
        service_names: Sequence[str],
        tls: GrpcTls = PLAIN_GRPC,
    ) -> GrpcServer:
        """Bind `addr` (port 0 picks a free port) and serve `service_names`, over TLS when
        `tls` has a certificate."""
        server = grpc.aio.server(interceptors=[ErrorInterceptor()])
        register(server)
        checker = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(checker, server)
        enable_reflection(server, (*service_names, HEALTH_SERVICE))
        credentials = tls.server_credentials()
        port = (
            server.add_secure_port(addr, credentials)
            if credentials is not None
            else server.add_insecure_port(addr)
        )
        if port == 0:
            raise OSError(f"cannot listen on {addr}")
        await server.start()
        for name in (*service_names, ""):
            await checker.set(name, health_pb2.HealthCheckResponse.SERVING)
        return cls(server, port, checker)

    async def stop(self) -> None:
        """Report NOT_SERVING, let calls in flight finish, then stop."""
        await self._health.enter_graceful_shutdown()
        await self.server.stop(STOP_GRACE_SECONDS)
