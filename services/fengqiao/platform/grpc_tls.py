"""TLS for the gRPC APIs. Disputes carry residents' names, phones and ID numbers, so
outside a trusted network the city platform must reach intake over TLS, optionally with
client certificates (mutual TLS). The same settings let fengqiao's own clients
(`fengqiao health`, `fengqiao submit`) reach a TLS server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import grpc

from fengqiao.platform.setting_files import missing_files


@dataclass(frozen=True, slots=True)
class GrpcTls:
    # This server's certificate chain and key: setting them turns TLS on.
    cert: Path | None = None
    key: Path | None = None
    # Require every client to present a certificate signed by this CA (mutual TLS).
    client_ca: Path | None = None
    # For fengqiao's own clients: the CA that signed the server's certificate, and the name
    # on it when the address used differs (a probe dialling 127.0.0.1, say).
    ca: Path | None = None
    server_name: str = ""

    def problems(self) -> list[str]:
        """What is wrong with these settings, as FENGQIAO_* variable names and a fix."""
        out = []
        if (self.cert is None) != (self.key is None):
            out.append("set FENGQIAO_GRPC_TLS_CERT and FENGQIAO_GRPC_TLS_KEY together, or neither")
        if self.client_ca is not None and self.cert is None:
            out.append("FENGQIAO_GRPC_TLS_CLIENT_CA needs FENGQIAO_GRPC_TLS_CERT and _KEY")
        return out + missing_files(
            {
                "FENGQIAO_GRPC_TLS_CERT": self.cert,
                "FENGQIAO_GRPC_TLS_KEY": self.key,
                "FENGQIAO_GRPC_TLS_CLIENT_CA": self.client_ca,
                "FENGQIAO_GRPC_TLS_CA": self.ca,
            }
        )

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """None: serve in plain text."""
        if self.cert is None or self.key is None:
            return None
        return grpc.ssl_server_credentials(
            [(self.key.read_bytes(), self.cert.read_bytes())],
            root_certificates=self.client_ca.read_bytes() if self.client_ca else None,
            require_client_auth=self.client_ca is not None,
        )

    def channel(self, target: str) -> grpc.aio.Channel:
        """A channel to `target`: TLS when a CA is set, presenting this process'
        certificate (if it has one) to servers that ask for it."""
        if self.ca is None:
            return grpc.aio.insecure_channel(target)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes(),
            private_key=self.key.read_bytes() if self.key else None,
            certificate_chain=self.cert.read_bytes() if self.cert else None,
        )
        options = [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []
        return grpc.aio.secure_channel(target, credentials, options=options)


PLAIN_GRPC: Final = GrpcTls()
