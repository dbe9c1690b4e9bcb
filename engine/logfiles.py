"""A container's json-file log: its options, its rotated files, and reading it without loading it.

The monitor writes ``log.jsonl`` (one JSON object a line) and, once it reaches ``max-size``, renames it
to ``log.jsonl.1`` (the older ``.1`` to ``.2`` …, keeping ``max-file`` files in all), as docker's
json-file driver does. Readers take the files oldest first; ``--tail`` reads blocks backwards from the
end of the newest file, so its cost is the size of the tail, not of the log.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import BinaryIO

from .errors import InvalidArgument
from .units import ram_in_bytes

DEFAULT_MAX_SIZE = "20m"
DEFAULT_MAX_FILE = "5"
_BLOCK = 64 << 10


def log_config(given: dict[str, object] | None) -> dict[str, object]:
    """HostConfig.LogConfig with our defaults filled in; InvalidArgument names a bad option."""
    given = dict(given or {})
    kind = str(given.get("Type") or "json-file")
    if kind != "json-file":
        raise InvalidArgument(f'logging driver "{kind}" is not supported (only json-file)')
    raw = {str(k): str(v) for k, v in dict(given.get("Config") or {}).items()}  # type: ignore[call-overload]
    for key in raw:
        if key not in ("max-size", "max-file"):
            raise InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
    cfg = {"max-size": raw.get("max-size", DEFAULT_MAX_SIZE), "max-file": raw.get("max-file", DEFAULT_MAX_FILE)}
    limits(cfg)
    return {"Type": kind, "Config": cfg}


def limits(cfg: dict[str, str]) -> tuple[int, int]:
    """(max bytes a file, files in all) from a LogConfig's ``Config``; ``max-size=-1`` is unbounded (0)."""
    size_text = cfg.get("max-size", DEFAULT_MAX_SIZE)
    if size_text.strip() == "-1":
        size = 0
    else:
        try:
            size = ram_in_bytes(size_text)
        except InvalidArgument:
            raise InvalidArgument(f"invalid log opt max-size: '{size_text}'") from None
        if size <= 0:
            raise InvalidArgument("max-size must be a positive number")
    try:
        files = int(cfg.get("max-file", DEFAULT_MAX_FILE))
    except ValueError:
        raise InvalidArgument(f"invalid log opt max-file: '{cfg.get('max-file')}'") from None
    if files < 1:
        raise InvalidArgument("max-file cannot be less than 1")
    return size, files


def parse_log_opts(opts: list[str]) -> dict[str, str]:
    """``--log-opt k=v`` flags → a LogConfig ``Config``."""
    out: dict[str, str] = {}
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"invalid log opt '{opt}': it must be key=value")
        out[key] = value
    return out


def log_files(path: str) -> list[str]:
    """The log's files, oldest first: ``log.jsonl.N`` … ``log.jsonl.1``, ``log.jsonl``."""
    folder, base = os.path.split(path)
    pattern = re.compile(re.escape(base) + r"\.(\d+)")
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    rotated = sorted(((int(m.group(1)), n) for n in names if (m := pattern.fullmatch(n))), reverse=True)
    files = [os.path.join(folder, n) for _, n in rotated]
    if base in names:
        files.append(path)
    return files


def lines_of(path: str) -> Iterator[bytes]:
    """Complete lines of a finished (rotated) file, streamed."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            if line.endswith(b"\n"):
                yield line


def tail_lines(sources: list[tuple[str, int]], n: int, keep: Callable[[bytes], bool]) -> list[bytes]:
    """The last ``n`` lines that ``keep``, oldest first, reading backwards.

    ``sources``: (file, end offset) newest first; each file is read from ``end`` (-1: its end) back to
    its start. A file rotated away meanwhile is skipped.
    """
    found: list[bytes] = []
    for path, end in sources:
        if len(found) >= n:
            break
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            continue
        with f:
            rest = b""  # the start of a line whose beginning lies in an earlier block
            pos = end if end >= 0 else os.fstat(f.fileno()).st_size
            while pos > 0 and len(found) < n:
                step = min(_BLOCK, pos)
                pos -= step
                f.seek(pos)
                block = f.read(step) + rest
                parts = block.split(b"\n")
                rest = parts[0] if pos > 0 else b""
                for line in reversed(parts[1:] if pos > 0 else parts):
                    if line and keep(line):
                        found.append(line)
                        if len(found) >= n:
                            break
    found.reverse()
    return found


def complete_end(f: BinaryIO) -> int:
    """The offset just after the last newline of an open binary file (where a tail stops)."""
    size = os.fstat(f.fileno()).st_size
    pos = size
    while pos > 0:
        step = min(_BLOCK, pos)
        f.seek(pos - step)
        block = f.read(step)
        i = block.rfind(b"\n")
        if i >= 0:
            return pos - step + i + 1
        pos -= step
    return 0
