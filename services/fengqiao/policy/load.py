"""Read a rules file: refuse hostile YAML, check every field and the semantics, validate
against the JSON Schema (`rules/schema.json`), and build a `Policy`. Nothing in the file
is ever executed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fengqiao.policy.check import PolicyChecker
from fengqiao.policy.model import Policy
from fengqiao.policy.problems import PolicyError, Problem
from fengqiao.policy.schema import schema_problems
from fengqiao.policy.yaml_safe import read_yaml


def load_policy(path: Path | str) -> Policy:
    """Read and check the rules file at `path`; raise `PolicyError` listing every problem."""
    return parse_policy(read_policy_file(path), str(path))


def read_policy_file(path: Path | str) -> bytes:
    """The bytes of the rules file at `path`; `PolicyError` if it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PolicyError(
            str(path), [Problem(1, 1, f"无法读取规则文件：{exc.strerror}", f"cannot read: {exc}")]
        ) from exc


def policy_version(data: bytes) -> str:
    """The version of a rules file: the SHA-256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


def parse_policy(data: bytes, source: str) -> Policy:
    """Check the bytes of a rules file named `source`; raise `PolicyError` or return a `Policy`.
    The policy version is the SHA-256 of exactly these bytes."""
    doc = read_yaml(data, source)
    checker = PolicyChecker()
    policy = checker.policy(doc, policy_version(data), source)
    # The checker's messages are the more specific; the schema adds what it alone catches.
    seen = {p.line for p in checker.problems}
    problems = checker.problems + [p for p in schema_problems(doc) if p.line not in seen]
    if problems or policy is None:
        raise PolicyError(source, problems)
    return policy
