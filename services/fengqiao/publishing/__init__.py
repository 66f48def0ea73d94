"""A draft's way into force, as values for `fengqiao rules …` and the console's playground:
the review it must pass (`review.py`: strict check, then the policy's cases), what it would
have done to the stored history (`replay.py`), and publishing it or rolling back to an
earlier version on every triage replica (`versions.py`)."""

from fengqiao.publishing.replay import PublishedPolicies, replay_history
from fengqiao.publishing.review import (
    Checked,
    Draft,
    Review,
    Tested,
    case_files,
    check,
    directory_for,
    home_cases,
    review,
    run_tests,
)
from fengqiao.publishing.versions import Published, RolledBack, publish, rollback

__all__ = [
    "Checked",
    "Draft",
    "Published",
    "PublishedPolicies",
    "Review",
    "RolledBack",
    "Tested",
    "case_files",
    "check",
    "directory_for",
    "home_cases",
    "publish",
    "replay_history",
    "review",
    "rollback",
    "run_tests",
]
