"""YAML for files people edit: refuse what could hurt before building anything, and keep
line and column numbers for every message."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent

from fengqiao.policy.problems import PolicyError, Problem

# A policy of 400 rules is about 150 KB and 15,000 YAML events; parsing costs ~60 µs an
# event, so these bounds refuse a hostile file within about a second.
MAX_FILE_BYTES: Final = 512_000
MAX_EVENTS: Final = 30_000
MAX_DEPTH: Final = 12

Position = tuple[int, int]


def read_yaml(data: bytes, source: str) -> Any:
    """Parse `data` into ruamel's commented maps and lists (which remember positions).

    Refused before anything is built: files over 512 KB or of more than 30,000 YAML
    events, non-UTF-8 text, aliases (alias bombs) and nesting deeper than 12. Tags never
    construct objects: only the round-trip loader's plain maps, lists and scalars come out."""
    if len(data) > MAX_FILE_BYTES:
        raise PolicyError(
            source,
            [Problem(1, 1, f"文件超过 {MAX_FILE_BYTES} 字节，请拆分或精简",
                     f"the file is larger than {MAX_FILE_BYTES} bytes")],
        )  # fmt: skip
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(
            source, [Problem(1, 1, "文件须为 UTF-8 编码", f"the file is not UTF-8: {exc}")]
        ) from exc
    yaml = YAML(typ="rt")
    try:
        _scan(yaml, text, source)
        return yaml.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(
            source,
            [Problem(line, col, f"YAML 语法错误：{problem}", f"YAML syntax error: {problem}")],
        ) from exc


def _scan(yaml: YAML, text: str, source: str) -> None:
    """One linear pass over the parser's events: no alias, no deep nesting, not too many."""
    depth = 0
    for count, event in enumerate(yaml.parse(text)):
        mark = event.start_mark
        where = (mark.line + 1, mark.column + 1)
        if count > MAX_EVENTS:
            raise PolicyError(
                source,
                [Problem(*where, f"文件内容过多（超过 {MAX_EVENTS} 个 YAML 节点），请拆分或精简",
                         f"too much content (more than {MAX_EVENTS} YAML nodes)")],
            )  # fmt: skip
        if isinstance(event, AliasEvent):
            raise PolicyError(
                source,
                [Problem(*where, "不允许使用 YAML 锚点引用（*别名），请直接写出内容",
                         "YAML aliases are not allowed; write the value out")],
            )  # fmt: skip
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise PolicyError(
                    source,
                    [
                        Problem(
                            *where, f"嵌套超过 {MAX_DEPTH} 层", f"nesting deeper than {MAX_DEPTH}"
                        )
                    ],
                )
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def position(node: Any, key: object = None) -> Position:
    """1-based position of `node[key]` (the key, for mappings), else of `node` itself."""
    try:
        if key is not None and isinstance(node, CommentedMap):
            line, col = node.lc.key(key)
        elif key is not None and isinstance(node, CommentedSeq):
            line, col = node.lc.item(key)
        else:
            line, col = node.lc.line, node.lc.col
    except (AttributeError, KeyError, IndexError, TypeError):
        return 1, 1
    return line + 1, col + 1


def suggest(word: str, choices: Iterable[str]) -> tuple[str, str]:
    """("，是否应为 X？", "; did you mean 'X'?") for the closest choice, or empty strings."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    if close:
        return f"，是否应为 {close[0]}？", f"; did you mean {close[0]!r}?"
    return "", ""
