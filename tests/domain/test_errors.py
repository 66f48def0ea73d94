"""One error tree: every exception class fengqiao defines descends from FengqiaoError,
says whether retrying can help, and is drawn in the tree of `domain/errors.py`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import fengqiao
from fengqiao.domain import errors
from fengqiao.domain.errors import FengqiaoError


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module in pkgutil.walk_packages(fengqiao.__path__, "fengqiao."):
        if module.name.endswith(("_pb2", "_pb2_grpc", "__main__")) or ".migrations" in module.name:
            continue
        loaded = importlib.import_module(module.name)
        for name, value in vars(loaded).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.name
            ):
                found[f"{module.name}.{name}"] = value
    return found


def test_every_error_of_the_package_is_in_the_one_tree() -> None:
    classes = _exception_classes()
    assert len(classes) >= 15  # the walk found them
    strays = [name for name, cls in classes.items() if not issubclass(cls, FengqiaoError)]
    assert strays == []


def test_the_tree_in_the_docstring_names_every_error() -> None:
    doc = errors.__doc__ or ""
    for name, cls in _exception_classes().items():
        assert re.search(rf"[─ ]{cls.__name__}\b", doc), name


def test_each_branch_says_its_fate() -> None:
    assert errors.NotFound("x").permanent and errors.RejectMessage("x").permanent
    assert not errors.Unavailable("x").permanent
    assert not errors.WriteConflicts("x").permanent and not errors.Retry(1.0).permanent
    assert errors.Retry(3.0).retry_after_seconds == 3.0
