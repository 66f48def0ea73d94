"""Reading submission files: a SubmitDisputeRequest, or a bare Dispute, in protobuf JSON."""

from __future__ import annotations

import json
from pathlib import Path

from google.protobuf import json_format

from fengqiao.domain.errors import SampleError
from fengqiao.v1 import dispute_pb2, intake_pb2


def read_submission(path: Path) -> intake_pb2.SubmitDisputeRequest:
    """The request in `path`; a bare dispute gets the file name as its request_id."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "dispute" in data:
            return json_format.ParseDict(data, intake_pb2.SubmitDisputeRequest())
        dispute = json_format.ParseDict(data, dispute_pb2.Dispute())
    except (OSError, ValueError, json_format.ParseError) as exc:
        raise SampleError(f"{path}: {exc}") from exc
    return intake_pb2.SubmitDisputeRequest(request_id=f"file-{path.name}", dispute=dispute)


def sample_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json"))
