"""What is wrong with a rules file, located at `file:line:column`, in Chinese and English."""

from __future__ import annotations

from dataclasses import dataclass

from fengqiao.domain.errors import Misconfigured


@dataclass(frozen=True, slots=True)
class Problem:
    line: int  # 1-based
    column: int  # 1-based
    zh: str
    en: str

    def format(self, source: str) -> str:
        return f"{source}:{self.line}:{self.column}: {self.zh}\n    {self.en}"


class PolicyError(Misconfigured):
    """The rules file cannot be used; `problems` says every reason found, in file order."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = tuple(sorted(problems, key=lambda p: (p.line, p.column)))
        super().__init__(self.format())

    def format(self) -> str:
        return "\n".join(p.format(self.source) for p in self.problems)
