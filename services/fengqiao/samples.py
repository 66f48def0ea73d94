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
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise SampleError(f"{path}: {exc}") from exc
    return parse_submission(text, path.name, str(path))


def parse_submission(text: str, name: str, where: str) -> intake_pb2.SubmitDisputeRequest:
    """The request in the JSON `text`; a bare dispute gets `file-<name>` as its request_id.
    `SampleError` says `where` the text came from and what is wrong with it."""
    try:
        data = json.loads(text)
        if isinstance(data, dict) and "dispute" in data:
            return json_format.ParseDict(data, intake_pb2.SubmitDisputeRequest())
        dispute = json_format.ParseDict(data, dispute_pb2.Dispute())
    except (ValueError, json_format.ParseError) as exc:
        raise SampleError(f"{where}: {exc}") from exc
    return intake_pb2.SubmitDisputeRequest(request_id=f"file-{name}", dispute=dispute)


def sample_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json"))
