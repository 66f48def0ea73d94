"""Identity of a submission: idempotency keys and content fingerprints."""

from __future__ import annotations

import hashlib

from fengqiao.convert import dispute_to_proto
from fengqiao.domain.model import Dispute


def request_key(request_id: str) -> str:
    """KV key for a client request id (which may hold any characters)."""
    return hashlib.sha256(request_id.encode("utf-8")).hexdigest()


def fingerprint(dispute: Dispute) -> str:
    """Hash of what the client sent, so a reused request_id with other content is caught."""
    proto = dispute_to_proto(dispute)
    proto.ClearField("id")
    proto.ClearField("received_at")
    return hashlib.sha256(proto.SerializeToString(deterministic=True)).hexdigest()
