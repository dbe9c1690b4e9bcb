"""The substitution fast path of ``--format`` (text and ``{{.Field}}``) prints what the template engine prints."""

from __future__ import annotations

from typing import Any

import pytest

from tui.cli import template as package
from tui.cli.template import fields
from tui.cli.template import template as engine

ROWS: list[dict[str, Any]] = [
    {"ID": "0123456789ab", "Image": "busybox", "Names": "web", "Status": "Up 2 seconds", "Ports": ""},
    {"ID": "ba9876543210", "Image": "alpine:3", "Names": "db,other", "Status": "Exited (0) 1 hour ago",
     "Ports": "0.0.0.0:8080->80/tcp"},
]
HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Names": "NAMES", "Status": "STATUS", "Ports": "PORTS"}

FORMATS = [
    "table {{.ID}}\t{{.Image}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
    "table {{ .ID }}\\t{{.Names}}",
    "{{.ID}}",
    "{{.ID}}: {{.Names}} ({{.Image}})",
    "table",
    "",
    "json",
    "table {{.ID}}\t{{.Missing}}",           # a key no row has: the engine's <no value>
    "{{.ID}} {{json .Names}}",               # a function: the engine
    "{{.ID}} {{- .Names}}",                  # trim markers: the engine
    "table {{.ID}}}}\t{{.Names}}",           # literal braces after an action
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_output_as_the_engine(fmt: str) -> None:
    assert package.format_table(fmt, ROWS, HEADERS) == engine.format_table(fmt, ROWS, HEADERS)


def test_values_that_are_not_strings_go_to_the_engine() -> None:
    rows = [{"ID": "x", "Size": 12, "Flag": True, "Nil": None}]
    for fmt in ("{{.ID}} {{.Size}}", "{{.Flag}}", "table {{.Nil}}"):
        assert fields.substituted_table(fmt, rows, {"ID": "ID", "Size": "SIZE"}) is None
        assert package.format_table(fmt, rows, {"ID": "ID", "Size": "SIZE"}) == engine.format_table(
            fmt, rows, {"ID": "ID", "Size": "SIZE"})


def test_the_default_tables_need_no_engine() -> None:
    assert fields.substituted_table(FORMATS[0], ROWS, HEADERS) == engine.format_table(FORMATS[0], ROWS, HEADERS)


def test_only_text_and_fields_split() -> None:
    assert fields.split_fields("a{{.X}}b{{ .Y }}") == (["a", "b", ""], ["X", "Y"])
    assert fields.split_fields("{{.X | upper}}") is None
    assert fields.split_fields("{{if .X}}y{{end}}") is None
