"""The rules file: load → check → compile → evaluate → explain. Pure: no network, no disk
beyond reading the file it is given."""

from fengqiao.policy.compiled import CompiledPolicy
from fengqiao.policy.explain import ConditionTrace, RuleTrace
from fengqiao.policy.load import load_policy, parse_policy, policy_version, read_policy_file
from fengqiao.policy.model import Deadline, DeadlineUnit, Policy, RouteSpec, Rule, Timing
from fengqiao.policy.problems import PolicyError, Problem

__all__ = [
    "CompiledPolicy",
    "ConditionTrace",
    "Deadline",
    "DeadlineUnit",
    "Policy",
    "PolicyError",
    "Problem",
    "RouteSpec",
    "Rule",
    "RuleTrace",
    "Timing",
    "load_policy",
    "parse_policy",
    "policy_version",
    "read_policy_file",
]
