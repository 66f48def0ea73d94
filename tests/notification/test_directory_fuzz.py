"""Whatever operators do to the directory (通讯录), loading it answers with a Directory or
with located problems, never with a crash."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from fengqiao.notification.directory import load_directory
from tests.conftest import POLICY
from tests.policy.test_fuzz import edited, loaded_or_refused

DIRECTORY = (POLICY.parent / "directory.yaml").read_text(encoding="utf-8").splitlines()


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(edited(DIRECTORY))
def test_any_edit_of_the_directory_loads_or_is_refused_with_problems(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("directory") / "directory.yaml"
    path.write_text(text, encoding="utf-8")
    directory = loaded_or_refused(lambda: load_directory(path), text)
    if directory is not None:
        assert all(contact.channels for contact in directory.contacts.values())
