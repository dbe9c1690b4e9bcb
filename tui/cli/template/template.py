"""The public surface: parse (cached), render, docker's ``--format`` handling and table output."""

from __future__ import annotations

import functools
from typing import Any

from engine.errors import InvalidArgument

from .values import _TemplateError
from .functions import _BUILTINS, _HEADER_FUNCS
from .nodes import _Node
from .parser import _Parser
from .executor import _State
from .fields import is_table_format, prepare_format
from .tabwriter import _tabwrite_text


class Template:
    """A parsed template; :meth:`execute` runs it. Get one from :func:`compile_template`."""

    __slots__ = ("text", "root", "defs")

    def __init__(self, text: str, root: list[_Node], defs: dict[str, list[_Node]]) -> None:
        self.text = text
        self.root = root
        self.defs = defs

    def execute(self, data: Any, *, header: bool = False) -> str:
        """Render against ``data``. ``header=True`` uses docker's header functions, which leave
        the header text alone (``{{json .X}}`` renders the header of X, not its JSON)."""
        out: list[str] = []
        self._run(data, out, header)
        return "".join(out)

    def _run(self, data: Any, out: list[str], header: bool) -> None:
        state = _State(self.text, self.defs, _HEADER_FUNCS if header else _BUILTINS, data, out)
        try:
            state.walk_list(data, self.root)
        except _TemplateError as e:
            raise InvalidArgument(f"template parsing error: {e}", template=self.text) from None
        except RecursionError:
            raise InvalidArgument(
                "template parsing error: template: : exceeded maximum template depth", template=self.text
            ) from None


@functools.lru_cache(maxsize=256)
def compile_template(text: str) -> Template:
    """Parse ``text`` (cached). Raises :class:`InvalidArgument` on a syntax error."""
    parser = _Parser(text)
    try:
        root = parser.parse()
    except _TemplateError as e:
        raise InvalidArgument(f"template parsing error: {e}", template=text) from None
    return Template(text, root, parser.defs)


def render(template: str, data: Any) -> str:
    """Execute the Go template ``template`` against ``data``; parse and execution errors raise
    :class:`InvalidArgument` in docker's words."""
    return compile_template(template).execute(data)


def format_table(fmt: str, rows: list[Any], headers: dict[str, str]) -> str:
    """Render ``rows`` the way docker's formatter does for ``--format fmt``.

    * ``table …``: the word is dropped, the template renders a header line against
      ``headers`` (field name -> column title) and one line per row; the whole passes through
      the tabwriter (:func:`tabwrite`).
    * ``json``: one compact JSON document per row (docker's ``{{json .}}``).
    * anything else: one rendered line per row, no header, no alignment.

    Like docker the format is trimmed of spaces and backslash-t / backslash-n become tab and
    newline. Every line ends with a newline; no rows and no table means an empty string.
    """
    table = is_table_format(fmt)
    body = fmt[len("table") :] if table else fmt
    body = prepare_format(body.strip(" "))
    if body == "json" and not table:
        body = "{{json .}}"
    tmpl = compile_template(body)
    lines: list[str] = []
    for row in rows:
        lines.append(tmpl.execute(row))
    if not table:
        return "".join(line + "\n" for line in lines)
    head: list[str] = []
    try:
        tmpl._run(headers, head, True)
    except InvalidArgument:
        pass  # docker ignores a header that fails to render and prints what it got
    text = "".join(head) + "\n" + "".join(line + "\n" for line in lines)
    return _tabwrite_text(text)
