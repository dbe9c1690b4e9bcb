"""The two files of variables a compose project reads.

- a service's ``env_file``: docker's format (``opts.ParseEnvFile``): ``KEY=value`` lines taken as they
  are (no quotes removed), ``KEY`` alone passes the variable through from the environment, ``#`` starts
  a comment line;
- the project's ``.env`` beside the first compose file, for interpolation: the dotenv format docker
  compose reads, which also allows ``export KEY=value``, quoted values (``"a b"`` with ``\\n`` escapes,
  ``'a b'`` literal) and a trailing `` # comment`` after an unquoted value.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import InvalidArgument


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read((1 << 20) + 1)
    except FileNotFoundError:
        raise InvalidArgument(f"open {path}: no such file or directory") from None
    except OSError as exc:
        raise InvalidArgument(f"open {path}: {exc.strerror}") from None
    if len(data) > 1 << 20:
        raise InvalidArgument(f"{path}: larger than 1 MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InvalidArgument(f"{path}: invalid utf8 bytes at line {line}") from None


def parse_env_file(path: str, lookup: Callable[[str], str | None]) -> dict[str, str | None]:
    """A service's env_file as docker reads it; ``KEY`` alone takes the value from ``lookup`` (and is
    dropped when that has none)."""
    out: dict[str, str | None] = {}
    for number, raw in enumerate(_read(path).splitlines(), 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.partition("=")
        key = key.lstrip()
        if not key:
            raise InvalidArgument(f"{path}: line {number}: no variable name in '{raw}'")
        if any(c.isspace() for c in key):
            raise InvalidArgument(f"{path}: line {number}: variable '{key}' contains whitespaces")
        if eq:
            out[key] = value
        else:
            found = lookup(key)
            if found is not None:
                out[key] = found
    return out


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$"}


def parse_dotenv(path: str) -> dict[str, str]:
    """The project's ``.env`` (dotenv format); InvalidArgument names the line of a malformed one."""
    out: dict[str, str] = {}
    lines = _read(path).splitlines()
    i = 0
    while i < len(lines):
        number, line = i + 1, lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[7:].lstrip()
        key, eq, value = line.partition("=")
        key = key.strip()
        if not eq or not key or any(c.isspace() for c in key):
            raise InvalidArgument(f"{path}: line {number}: expected KEY=VALUE, got '{lines[number - 1]}'")
        value = value.lstrip()
        if value[:1] in ("'", '"'):
            quote = value[0]
            body = value[1:]
            while True:  # a quoted value may go on over several lines
                end = _closing(body, quote)
                if end >= 0 or i >= len(lines):
                    break
                body += "\n" + lines[i]
                i += 1
            if end < 0:
                raise InvalidArgument(f"{path}: line {number}: the value's {quote} is not closed")
            text = body[:end]
            if quote == '"':
                text = _unescape(text)
            out[key] = text
        else:
            hash_at = value.find(" #")
            out[key] = (value[:hash_at] if hash_at >= 0 else value).strip()
    return out


def _closing(body: str, quote: str) -> int:
    j = 0
    while j < len(body):
        if body[j] == "\\" and quote == '"':
            j += 2
            continue
        if body[j] == quote:
            return j
        j += 1
    return -1


def _unescape(text: str) -> str:
    out: list[str] = []
    j = 0
    while j < len(text):
        if text[j] == "\\" and j + 1 < len(text) and text[j + 1] in _ESCAPES:
            out.append(_ESCAPES[text[j + 1]])
            j += 2
        else:
            out.append(text[j])
            j += 1
    return "".join(out)
