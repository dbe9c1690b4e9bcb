"""``python -m tui.cli``: the ``portside`` command."""

from . import entry

entry()
