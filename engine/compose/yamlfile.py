"""A compose file's YAML, read safely and within bounds.

Only plain data comes out (mappings with string keys, lists, strings, numbers, booleans, null): the safe
loader (libyaml's when present). Scalars resolve as YAML 1.2's core schema does, the way docker's
yaml.v3 reads them into untyped values: only ``true``/``false`` are booleans (``yes``, ``on`` stay strings)
and dates stay strings. A file is refused, with one line, when it is larger than :data:`MAX_BYTES` or when
its aliases would expand it past :data:`MAX_NODES` nodes (an alias bomb: a few lines that stand for
billions of values) or it nests deeper than :data:`MAX_DEPTH` levels, before anything walks it.
"""

from __future__ import annotations

import re

import yaml

from ..errors import InvalidArgument

TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any

MAX_BYTES = 10 << 20
MAX_NODES = 100_000
MAX_DEPTH = 64

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    """The safe loader resolving plain scalars as YAML 1.2's core schema (and docker's yaml.v3) does, and
    refusing a key given twice in one mapping (YAML 1.1 readers keep the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f'mapping key "{key_node.value}" already defined at line {seen[key_node.value]}',
                        key_node.start_mark)
                seen[key_node.value] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


_REPLACED = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
             "tag:yaml.org,2002:timestamp")
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# YAML 1.1 would read 22:22 as the base-60 number 1342 and `on` as true; docker's parser reads neither
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:int",
                              re.compile(r"^[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$"),
                              list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
                                         r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
                              list("-+0123456789."))


def _construct_int(loader: Any, node: yaml.ScalarNode) -> int:
    """Go's strconv.ParseInt(text, 0, 64) after removing ``_``: 0x, 0o, 0b, and a leading 0 for octal."""
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
    try:
        if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
            return sign * (int(digits, 8) if set(digits) <= set("01234567") else int(digits, 10))
        return sign * int(digits, 0)
    except ValueError:
        raise yaml.constructor.ConstructorError(None, None, f"invalid integer {text!r}", node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _expanded_size(node: yaml.Node) -> int:
    """How many nodes ``node`` stands for once every alias is expanded (stops early past the bound); -1
    for a structure that contains itself, -2 for one nested deeper than :data:`MAX_DEPTH` (aliases
    included: a node's height is counted once, wherever it is used)."""
    sizes: dict[int, int] = {}
    heights: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, done = stack.pop()
        key = id(current)
        if key in sizes and not done:
            continue
        children: list[yaml.Node] = []
        if isinstance(current, yaml.SequenceNode):
            children = list(current.value)
        elif isinstance(current, yaml.MappingNode):
            children = [part for pair in current.value for part in pair]
        if done:
            parts = [sizes[id(c)] for c in children]
            if -1 in parts:  # a child that is still being counted: an alias inside its own anchor
                return -1
            total = 1 + sum(parts)
            if total > MAX_NODES:
                return total
            height = 1 + max((heights[id(c)] for c in children), default=0)
            if height > MAX_DEPTH:
                return -2
            sizes[key], heights[key] = total, height
            continue
        if len(stack) > MAX_NODES:  # more nodes waiting than the file may hold
            return MAX_NODES + 1
        sizes[key] = -1  # being counted
        stack.append((current, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(node)]


def _where(filename: str, exc: yaml.YAMLError) -> str:
    """``file: line L, column C: problem`` for a YAML error."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return f"{filename}: {problem}"
    return f"{filename}: line {mark.line + 1}, column {mark.column + 1}: {problem}"


def _string_keys(value: Any, path: str) -> Any:
    """Mapping keys as strings (``80: x`` has an integer key in YAML); refuses composite keys."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, (dict, list)):
                raise InvalidArgument(f"{path or 'top level'}: a mapping key must be a string")
            name = go_string(key) if key is not None else "null"
            out[name] = _string_keys(item, f"{path}.{name}" if path else name)
        return out
    if isinstance(value, list):
        return [_string_keys(item, f"{path}[{i}]") for i, item in enumerate(value)]
    return value


def go_string(value: Any) -> str:
    """A scalar as Go's fmt.Sprint writes it (``true``, ``1``, ``0.5``): how docker turns YAML values into
    strings (environment and label values, ports)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}.get(repr(value), repr(value))
    if value is None:
        return ""
    return str(value)


def parse(data: bytes | str, filename: str) -> dict[str, Any]:
    """The top-level mapping of one compose file; InvalidArgument with one line for anything else."""
    if len(data) > MAX_BYTES:
        raise InvalidArgument(f"{filename}: the file is larger than {MAX_BYTES >> 20} MiB")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"{filename}: not UTF-8 text (byte {exc.start})") from None
    else:
        text = data
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InvalidArgument(f"{filename}: empty compose file")
        size = _expanded_size(node)
        if size == -1:
            raise InvalidArgument(f"{filename}: an alias inside its own anchor (a structure that contains "
                                  f"itself); refused")
        if size == -2:
            raise InvalidArgument(f"{filename}: the YAML nests deeper than {MAX_DEPTH} levels; refused")
        if size > MAX_NODES:
            raise InvalidArgument(f"{filename}: the YAML expands to more than {MAX_NODES} values (aliases "
                                  f"referring to aliases); refused")
        value = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise InvalidArgument(_where(filename, exc)) from None
    except RecursionError:
        raise InvalidArgument(f"{filename}: the YAML nests too deeply") from None
    finally:
        loader.dispose()
    if not isinstance(value, dict):
        raise InvalidArgument(f"{filename}: Top-level object must be a mapping")
    result: dict[str, Any] = _string_keys(value, "")
    return result
