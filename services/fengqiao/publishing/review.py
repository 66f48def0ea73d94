"""What a draft must pass before it is published: `rules check --strict` (no problem, no
warning) and then `rules test` (every case beside the policy passes). Values, not prints:
`cli/rules.py` words them for a terminal, the console for a page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from fengqiao.notification.directory import Directory, load_directory
from fengqiao.notification.reach import unreachable
from fengqiao.platform.settings import Settings
from fengqiao.policy import CompiledPolicy, Policy, PolicyError, parse_policy
from fengqiao.policy.cases import Case, CaseResult, load_cases, run_cases, uncovered
from fengqiao.policy.deadlines import calendar_runs_out
from fengqiao.policy.lint import Finding, lint


@dataclass(frozen=True, slots=True)
class Draft:
    """A rules file to review: its bytes, the name its problems carry, the directory its
    cases and samples are in (`tests/`, `samples/`), and the contact directory (通讯录)
    its notices are checked against (None: not checked)."""

    data: bytes
    source: str
    home: Path
    directory: Path | None


@dataclass(frozen=True, slots=True)
class Checked:
    """What `rules check` says of a file that loads: its warnings in file order (the
    lint's and, with a directory, who cannot be reached), and the first year the working-day
    calendar does not know yet, if a deadline may reach it."""

    policy: Policy
    warnings: tuple[Finding, ...]
    reach_checked: bool
    calendar_gap: int | None


@dataclass(frozen=True, slots=True)
class Tested:
    """The policy's cases run (through both evaluators), and the rules no case ends on."""

    results: tuple[CaseResult, ...]
    uncovered: tuple[str, ...]

    @property
    def failed(self) -> int:
        return sum(not r.passed for r in self.results)


@dataclass(frozen=True, slots=True)
class Review:
    """A draft as `rules publish` judges it, stage by stage: each later stage is there only
    if the one before passed."""

    draft: Draft
    policy: Policy | None = None  # None: the draft itself has problems (`error`)
    checked: Checked | None = None  # None: the draft or the directory cannot be used
    # None: not run (warnings, no cases, a case file's error, or not asked for).
    tested: Tested | None = None
    # What could not be used: the draft, the directory or a case file, with its problems.
    error: PolicyError | None = None
    no_cases: bool = False  # `home/tests` holds no case file

    @property
    def passed(self) -> bool:
        """No problem, no warning, and every case passed: it may be published."""
        return (
            self.checked is not None
            and not self.checked.warnings
            and self.tested is not None
            and self.tested.failed == 0
        )


def check(policy: Policy, directory: Directory | None, today: date) -> Checked:
    """The warnings `rules check` prints for `policy` (strict: any one refuses it)."""
    findings = lint(policy)
    if directory is not None:
        findings += unreachable(policy, directory)
    return Checked(
        policy,
        tuple(sorted(findings, key=lambda f: f.line)),
        directory is not None,
        calendar_runs_out(policy, today),
    )


def case_files(home: Path) -> list[Path]:
    """The policy's case files: `tests/*.yaml` in `home`."""
    return sorted((home / "tests").glob("*.yaml"))


def run_tests(policy: Policy, cases: Sequence[Case]) -> Tested:
    """Run `cases` on `policy`, compiled for this call only (its engine freed after)."""
    compiled = CompiledPolicy(policy)
    try:
        results = run_cases(compiled, cases)
        return Tested(tuple(results), tuple(uncovered(compiled, results)))
    finally:
        compiled.close()


def home_cases(policy: Policy, home: Path) -> Tested | None:
    """The policy's own cases (`tests/*.yaml` in `home`, their samples in `home/samples`)
    run on `policy`; None if there is no case file. `PolicyError` if a case file cannot be
    used."""
    files = case_files(home)
    if not files:
        return None
    return run_tests(policy, load_cases(files, home / "samples"))


def review(draft: Draft, today: date, *, strict: bool = True, cases: bool = True) -> Review:
    """Check `draft`, then run its cases: with the defaults, what `rules publish` requires
    (a warning stops the review). Not `strict`: the cases run despite warnings (`rules
    test`); not `cases`: the check only. Reads the directory and the case files; CPU-bound
    (run it off an event loop). An `error` whose `source` is the draft's is about the draft
    itself."""
    try:
        policy = parse_policy(draft.data, draft.source)
    except PolicyError as exc:
        return Review(draft, error=exc)
    try:
        directory = load_directory(draft.directory) if draft.directory is not None else None
    except PolicyError as exc:
        return Review(draft, policy, error=exc)
    checked = check(policy, directory, today)
    if (strict and checked.warnings) or not cases:
        return Review(draft, policy, checked)
    try:
        tested = home_cases(policy, draft.home)
    except PolicyError as exc:
        return Review(draft, policy, checked, error=exc)
    if tested is None:
        return Review(draft, policy, checked, no_cases=True)
    return Review(draft, policy, checked, tested)


def directory_for(policy_file: Path, given: Path | None, settings: Settings) -> Path | None:
    """The contact directory a policy is checked against: `given`, else `directory.yaml`
    beside the policy file, else the configured one; None if none of them exists."""
    beside = policy_file.parent / "directory.yaml"
    return given or next((p for p in (beside, settings.directory_file) if p.is_file()), None)
