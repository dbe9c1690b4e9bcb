"""Go ``text/template`` as docker's ``--format`` flag uses it, plus docker's table output.

Its parts: ``lexer`` (text into tokens), ``parser`` (tokens into the tree of ``nodes``), ``executor``
(walks the tree, calling ``functions``, which print with ``fmt``), ``values`` (what they share: Go's
printing, truth and errors), ``template`` (the surface below) and ``tabwriter`` (docker's columns).

The public surface:

* :func:`render` — parse (cached) and execute a template against Python data.
* :func:`compile_template` — the cached parse step; returns a :class:`Template`.
* :func:`format_table` — docker's formatter: ``table`` prefix, header line, tabwriter.
* :func:`tabwrite` — Go's ``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`` alone.
* :func:`prepare_format` / :func:`is_table_format` — docker's pre-processing of ``--format``.

Only :mod:`.fields` (text and ``{{.Field}}``, the default tables) and :mod:`.tabwriter` load with the
package; the engine's parts load when a template needs them.

Data model. Templates run against plain Python values standing in for Go values: ``dict`` is a
map (``.Field`` looks the key up exactly; a missing key yields Go's invalid value, printed
``<no value>``), objects expose attributes (a callable attribute is a method and is called),
``list``/``tuple`` are slices, ``None`` is nil (printed ``<nil>``; a field of nil is
``<no value>``), ``bool``/``int``/``float``/``str`` are the basic kinds.

Differences from Go kept on purpose (our data is untyped): ``eq``/``lt``… compare ints with
floats instead of failing; ``index`` on a map without the key gives ``""`` when every value of
the map is a string (docker's ``map[string]string`` labels) and ``<no value>`` otherwise; a
field of nil is ``<no value>`` rather than Go's "nil pointer evaluating" error; ``json`` keeps
dict insertion order (Go sorts map keys, keeps struct field order); ``truncate`` counts
characters (Go: bytes) while ``len``/``slice``/``index`` on strings count bytes like Go.
Every parse or execution error is an :class:`InvalidArgument` whose text is docker's:
``template parsing error: template: :1: unexpected "}" in operand``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any

from .fields import is_table_format, prepare_format, substituted_table
from .tabwriter import tabwrite

if TYPE_CHECKING:
    from .template import Template, compile_template, render


def format_table(fmt: str, rows: list[Any], headers: dict[str, str]) -> str:
    """docker's formatter for ``--format fmt`` (see :func:`.template.format_table`): by substitution
    when the format is text and ``{{.Field}}`` over string fields, else through the template engine."""
    text = substituted_table(fmt, rows, headers)
    if text is not None:
        return text
    from .template import format_table as through_the_engine
    return through_the_engine(fmt, rows, headers)


def __getattr__(name: str) -> Any:
    if name in ("Template", "compile_template", "render"):
        from . import template
        return getattr(template, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Template",
    "compile_template",
    "format_table",
    "is_table_format",
    "prepare_format",
    "render",
    "tabwrite",
]
