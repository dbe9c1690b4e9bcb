"""Variables in a compose file, as the compose-spec says: ``$V``, ``${V}``, ``${V:-default}`` (unset or
empty), ``${V-default}`` (unset), ``${V:?error}`` (unset or empty is an error), ``${V?error}`` (unset is
an error), ``${V:+alt}`` / ``${V+alt}`` (alt when set), and ``$$`` for a literal ``$``. Defaults may hold
variables themselves (``${A:-${B}}``).

Values come from a lookup (the environment, then ``.env``: see :mod:`engine.compose.project`). A value that
interpolation changed and that the file's schema wants as a number or a boolean is cast as docker's
loader casts it (``replicas: ${N}`` → 5).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from ..errors import InvalidArgument

TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any

_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
MAX_EXPANSION = 10 << 20


class TemplateError(ValueError):
    """A string that is not a valid template, or a required variable without a value."""


def substitute(text: str, lookup: Callable[[str], str | None]) -> str:
    """``text`` with its variables replaced; TemplateError when it is malformed or a required one is
    missing."""
    if "$" not in text:
        return text
    out, _ = _scan(text, 0, lookup, braced=False)
    return out


def _scan(text: str, pos: int, lookup: Callable[[str], str | None], *, braced: bool) -> tuple[str, int]:
    """Substitute from ``pos`` to the end of ``text`` (or to the ``}`` closing a braced default)."""
    out: list[str] = []
    n = len(text)
    while pos < n:
        ch = text[pos]
        if braced and ch == "}":
            return "".join(out), pos
        if ch != "$":
            nxt = text.find("$", pos)
            end = n if nxt < 0 else nxt
            if braced:
                close = text.find("}", pos, end)
                if close >= 0:
                    end = close
            out.append(text[pos:end])
            pos = end
            continue
        if text.startswith("$$", pos):
            out.append("$")
            pos += 2
            continue
        if pos + 1 < n and text[pos + 1] == "{":
            value, pos = _braced(text, pos + 2, lookup)
            out.append(value)
            continue
        m = _NAME.match(text, pos + 1)
        if m is None:
            raise TemplateError(f'invalid interpolation format "{text}"; you may need to escape any $ with '
                                f"another $")
        out.append(lookup(m.group()) or "")
        pos = m.end()
    if braced:
        raise TemplateError(f'invalid interpolation format "{text}": a "${{" is not closed')
    return "".join(out), pos


def _braced(text: str, pos: int, lookup: Callable[[str], str | None]) -> tuple[str, int]:
    """``NAME[op word]}`` from ``pos`` (just after ``${``) → (value, position after ``}``)."""
    m = _NAME.match(text, pos)
    if m is None:
        raise TemplateError(f'invalid interpolation format "{text}"; you may need to escape any $ with '
                            f"another $")
    name = m.group()
    value = lookup(name)
    pos = m.end()
    if pos >= len(text):
        raise TemplateError(f'invalid interpolation format "{text}": a "${{" is not closed')
    if text[pos] == "}":
        return value or "", pos + 1
    colon = text[pos] == ":"
    op_at = pos + 1 if colon else pos
    op = text[op_at:op_at + 1]
    if op not in ("-", "?", "+"):
        raise TemplateError(f'invalid interpolation format "{text}"; you may need to escape any $ with '
                            f"another $")
    word_start = op_at + 1
    unset = value is None or (colon and value == "")
    # the word is substituted only when it is used (an unused default's required variables do not fail)
    used = (op == "+" and not unset) or (op != "+" and unset)
    if used:
        word, end = _scan(text, word_start, lookup, braced=True)
    else:
        word, end = _scan(text, word_start, lambda _name: "-", braced=True)
    end += 1
    if op == "-":
        return (word if unset else value or ""), end
    if op == "+":
        return ("" if unset else word), end
    if unset:
        raise TemplateError(f"required variable {name} is missing a value" + (f": {word}" if word else ""))
    return value or "", end


# the values docker's loader casts after interpolation (cli/compose/loader/interpolate.go); "*" is any key
_INT, _FLOAT, _BOOL = "int", "float", "bool"
_CASTS: dict[tuple[str, ...], str] = {
    ("services", "*", "configs", "*", "mode"): _INT,
    ("services", "*", "secrets", "*", "mode"): _INT,
    ("services", "*", "healthcheck", "retries"): _INT,
    ("services", "*", "healthcheck", "disable"): _BOOL,
    ("services", "*", "deploy", "replicas"): _INT,
    ("services", "*", "deploy", "update_config", "parallelism"): _INT,
    ("services", "*", "deploy", "update_config", "max_failure_ratio"): _FLOAT,
    ("services", "*", "deploy", "rollback_config", "parallelism"): _INT,
    ("services", "*", "deploy", "rollback_config", "max_failure_ratio"): _FLOAT,
    ("services", "*", "deploy", "restart_policy", "max_attempts"): _INT,
    ("services", "*", "deploy", "placement", "max_replicas_per_node"): _INT,
    ("services", "*", "deploy", "resources", "limits", "pids"): _INT,
    ("services", "*", "ports", "*", "target"): _INT,
    ("services", "*", "ports", "*", "published"): _INT,
    ("services", "*", "ulimits", "*"): _INT,
    ("services", "*", "ulimits", "*", "hard"): _INT,
    ("services", "*", "ulimits", "*", "soft"): _INT,
    ("services", "*", "privileged"): _BOOL,
    ("services", "*", "oom_score_adj"): _INT,
    ("services", "*", "read_only"): _BOOL,
    ("services", "*", "stdin_open"): _BOOL,
    ("services", "*", "tty"): _BOOL,
    ("services", "*", "init"): _BOOL,
    ("services", "*", "volumes", "*", "read_only"): _BOOL,
    ("services", "*", "volumes", "*", "volume", "nocopy"): _BOOL,
    ("services", "*", "volumes", "*", "tmpfs", "size"): _INT,
    ("networks", "*", "external"): _BOOL,
    ("networks", "*", "internal"): _BOOL,
    ("networks", "*", "attachable"): _BOOL,
    ("volumes", "*", "external"): _BOOL,
    ("secrets", "*", "external"): _BOOL,
    ("configs", "*", "external"): _BOOL,
}
_CAST_LENGTHS = {len(k) for k in _CASTS}


def _cast_for(path: tuple[str, ...]) -> str | None:
    if len(path) not in _CAST_LENGTHS:
        return None
    for pattern, kind in _CASTS.items():
        if len(pattern) == len(path) and all(p in ("*", q) for p, q in zip(pattern, path)):
            return kind
    return None


def _cast(value: str, kind: str, where: str) -> Any:
    try:
        if kind == _INT:
            return int(value)
        if kind == _FLOAT:
            return float(value)
    except ValueError:
        raise InvalidArgument(f'{where}: "{value}" is not a number') from None
    word = value.lower()
    if word in ("y", "yes", "true", "on"):
        return True
    if word in ("n", "no", "false", "off"):
        return False
    raise InvalidArgument(f'{where}: "{value}" is not a boolean')


def interpolate(config: Mapping[str, Any], lookup: Callable[[str], str | None]) -> dict[str, Any]:
    """A copy of a parsed compose file with every string's variables substituted (keys are kept as they
    are, and ``x-`` extension fields too). InvalidArgument names the key path of a bad template; the
    values substituted may add at most :data:`MAX_EXPANSION` bytes to the file (``${A}`` a million times
    over a large A would fill the memory)."""
    left = [MAX_EXPANSION]

    def counted(name: str) -> str | None:
        value = lookup(name)
        if value:
            left[0] -= len(value)
            if left[0] < 0:
                raise TemplateError(f"the variables' values add more than {MAX_EXPANSION >> 20} MiB to the file")
        return value

    def walk(value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, str):
            if "$" not in value:
                return value
            try:
                new = substitute(value, counted)
            except TemplateError as exc:
                raise InvalidArgument(f"{'.'.join(path)}: {exc}") from None
            except RecursionError:  # defaults inside defaults, hundreds deep
                raise InvalidArgument(f"{'.'.join(path)}: variables nest too deeply") from None
            kind = _cast_for(path) if new != value else None
            return _cast(new, kind, ".".join(path)) if kind else new
        if isinstance(value, dict):
            return {k: (v if k.startswith("x-") else walk(v, (*path, k))) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, str(i))) for i, v in enumerate(value)]
        return value

    return {k: (v if k.startswith("x-") else walk(v, (k,))) for k, v in config.items()}
