"""The formats docker's tables use most, without the template engine: text and ``{{.Field}}``.

``portside ps``, ``images``, ``volume ls`` … print their default tables with templates made only of
literal text and field references (``table {{.ID}}\\t{{.Image}}\\t…``). For those, when every field
is a key of the row holding a string, rendering is a substitution; this module does it and leaves
everything else (functions, pipelines, other values) to the full engine in :mod:`.template`
(the package's ``format_table`` chooses), which then loads (the lexer, parser and executor cost a short command ~2 ms to import). The output is the
engine's to the byte: a string field prints as itself in Go.

docker's pre-processing of ``--format`` lives here too, shared by both.
"""

from __future__ import annotations

import re
TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any

_FIELD = r"\{\{ *\.([A-Za-z_][A-Za-z0-9_]*) *\}\}"  # compiled at first use (re caches it)


def prepare_format(fmt: str) -> str:
    """docker's escape handling for ``--format``: the two characters backslash-t become a tab and
    backslash-n a newline (docker does this before parsing the template)."""
    if "\\" not in fmt:
        return fmt
    return fmt.replace("\\t", "\t").replace("\\n", "\n")


def is_table_format(fmt: str) -> bool:
    """True when the format asks for docker's table output (it starts with ``table``)."""
    return fmt.startswith("table")


def split_fields(body: str) -> tuple[list[str], list[str]] | None:
    """``body`` as literal pieces and the field names between them (``len(texts) == len(names) + 1``),
    or None when it holds anything but text and ``{{.Field}}``."""
    texts: list[str] = []
    names: list[str] = []
    pos = 0
    for m in re.finditer(_FIELD, body):
        texts.append(body[pos:m.start()])
        names.append(m.group(1))
        pos = m.end()
    texts.append(body[pos:])
    if any("{{" in text for text in texts):
        return None
    return texts, names


def substitute(texts: list[str], names: list[str], data: Any) -> str | None:
    """The template's output for ``data``, or None unless every field is a key with a string value."""
    if type(data) is not dict:
        return None
    out = [texts[0]]
    for name, text in zip(names, texts[1:]):
        value = data.get(name)
        if type(value) is not str:
            return None
        out.append(value)
        out.append(text)
    return "".join(out)


def substituted_table(fmt: str, rows: list[Any], headers: dict[str, str]) -> str | None:
    """:func:`.template.format_table`'s output by substitution, or None when the format or the rows
    need the engine."""
    table = is_table_format(fmt)
    body = prepare_format((fmt[len("table"):] if table else fmt).strip(" "))
    parts = split_fields(body) if body != "json" or table else None
    if parts is not None:
        lines = [substitute(*parts, row) for row in rows]
        head = substitute(*parts, headers) if table else ""
        if head is not None and all(line is not None for line in lines):
            if not table:
                return "".join(f"{line}\n" for line in lines)
            from .tabwriter import _tabwrite_text
            return _tabwrite_text(head + "\n" + "".join(f"{line}\n" for line in lines))
    return None
