"""Policy decisions on one core: the shipped policy and a generated 300-rule one, through
durable_rules and through the plain-Python evaluator that explains itself.

Run by `tests.bench.run` as a child process, so that it measures the policy code of the
source tree being benchmarked:  python -m tests.bench.policy RULES_DIR --json OUT"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from fengqiao.domain import Dispute, PolicyContext
from fengqiao.domain.vocabulary import SUBMITTED
from fengqiao.platform.convert import dispute_from_proto
from fengqiao.platform.logs import configure_logging
from fengqiao.policy import CompiledPolicy, load_policy, parse_policy
from fengqiao.policy.durable_engine import DurableMatcher
from fengqiao.policy.facts import build_facts
from fengqiao.samples import read_submission, sample_files

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def best_rate(fn: Callable[[], object], n: int) -> float:
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n / (time.perf_counter() - started))
    return best


def generated_policy(shipped: Path, rules: int) -> bytes:
    """The shipped routes with `rules - 1` rules that never match, then a default."""
    head = shipped.read_text(encoding="utf-8").split("rules:\n")[0]
    body = "".join(
        f"  - id: g{i}\n    title: 生成\n    when: {{similar_recent: {1000 + i}, "
        f"category: [labour_wages, petition]}}\n    route: local\n    reason: r\n"
        for i in range(rules - 1)
    )
    default = "  - id: d\n    title: 兜底\n    route: local\n    reason: r\n"
    return (head + "rules:\n" + body + default).encode()


def _decide(
    compiled: CompiledPolicy, disputes: Iterator[Dispute], context: PolicyContext
) -> object:
    return compiled.decide(next(disputes), context, NOW)


def _explain(
    compiled: CompiledPolicy, disputes: Iterator[Dispute], context: PolicyContext
) -> object:
    return compiled.explain(next(disputes), context, NOW)


def bench_policy(rules_dir: Path) -> dict[str, float]:
    shipped_file = rules_dir / "triage.yaml"
    requests = [read_submission(p) for p in sample_files(rules_dir / "samples")]
    disputes = [replace(dispute_from_proto(r.dispute), id="x") for r in requests]
    # (policy, calls per round for decide, for explain): explaining 300 rules runs at a few
    # hundred a second, so fewer calls keep that row to seconds.
    policies = {
        "shipped policy": (CompiledPolicy(load_policy(shipped_file)), 20_000, 20_000),
        "generated 300-rule policy": (
            CompiledPolicy(parse_policy(generated_policy(shipped_file, 300), "g")),
            3_000,
            600,
        ),
    }
    context = PolicyContext()
    cycle = itertools.cycle(disputes)
    shipped = policies["shipped policy"][0].policy
    matcher = DurableMatcher(shipped.rules, "bench")
    facts = itertools.cycle([build_facts(d, context, SUBMITTED) for d in disputes])
    rows = {
        "shipped policy: durable_rules match alone": best_rate(
            lambda: matcher.match(next(facts)), 20_000
        )
    }
    for name, (compiled, n_decide, n_explain) in policies.items():
        rows[f"{name}: durable_rules (decide)"] = best_rate(
            partial(_decide, compiled, cycle, context), n_decide
        )
        rows[f"{name}: plain Python with reasons (explain)"] = best_rate(
            partial(_explain, compiled, cycle, context), n_explain
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rules_dir", type=Path)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    configure_logging("console", "warning")
    rows = bench_policy(args.rules_dir)
    args.json.write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
