"""engine.logfiles: reading a json-file log backwards, its rotated files in order, and its options."""

from __future__ import annotations

import os

import pytest

from engine import logfiles
from engine.errors import InvalidArgument


def write(path: str, lines: list[bytes]) -> None:
    with open(path, "wb") as f:
        f.write(b"".join(line + b"\n" for line in lines))


def test_tail_lines_cross_blocks_and_files(tmp_path: os.PathLike[str]) -> None:
    """--tail used to load the whole log; the backwards reader must give the same lines, lines cut by a
    64 KiB block boundary included, and go on into the previous (rotated) file."""
    base = os.path.join(str(tmp_path), "log.jsonl")
    old = [b"old %d " % i + b"y" * (i % 5000) for i in range(300)]
    new = [b"new %d " % i + b"x" * (i * 37 % 9000) for i in range(300)]
    write(base + ".1", old)
    write(base, new)
    assert logfiles.log_files(base) == [base + ".1", base]
    for n in (1, 7, 299, 300, 301, 600, 1000):
        with open(base, "rb") as f:
            end = logfiles.complete_end(f)
        got = logfiles.tail_lines([(base, end), (base + ".1", -1)], n, lambda x: True)
        assert got == (old + new)[-n:], n
    odd = logfiles.tail_lines([(base, os.path.getsize(base))], 3, lambda x: int(x.split()[1]) % 2 == 1)
    assert odd == [new[295], new[297], new[299]]


def test_complete_end_leaves_out_a_line_being_written(tmp_path: os.PathLike[str]) -> None:
    """A tail followed by -f must start after the last complete line, not in the middle of one."""
    path = os.path.join(str(tmp_path), "log.jsonl")
    with open(path, "wb") as f:
        f.write(b"a\nb\nhalf")
    with open(path, "rb") as f:
        assert logfiles.complete_end(f) == 4


def test_log_files_orders_rotations_numerically(tmp_path: os.PathLike[str]) -> None:
    base = os.path.join(str(tmp_path), "log.jsonl")
    for suffix in ("", ".1", ".2", ".10", ".tmp"):
        write(base + suffix, [b"x"])
    assert logfiles.log_files(base) == [base + ".10", base + ".2", base + ".1", base]


def test_log_config_defaults_and_errors() -> None:
    assert logfiles.log_config(None) == {"Type": "json-file", "Config": {"max-size": "20m", "max-file": "5"}}
    assert logfiles.limits({"max-size": "1k", "max-file": "2"}) == (1024, 2)
    assert logfiles.limits({"max-size": "-1", "max-file": "1"}) == (0, 1)
    for cfg, message in (({"max-size": "0"}, "max-size must be a positive number"),
                         ({"max-file": "x"}, "invalid log opt max-file: 'x'"),
                         ({"compress": "true"}, "unknown log opt 'compress' for json-file log driver")):
        with pytest.raises(InvalidArgument, match=message):
            logfiles.log_config({"Type": "json-file", "Config": cfg})
    with pytest.raises(InvalidArgument, match='logging driver "syslog" is not supported'):
        logfiles.log_config({"Type": "syslog"})
