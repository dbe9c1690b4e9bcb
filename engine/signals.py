"""Signal names and numbers as docker takes them (``--signal``, ``STOPSIGNAL``, ``kill -s``)."""

from __future__ import annotations

import signal as signal_mod

SIGNALS: dict[str, int] = {name[3:]: int(getattr(signal_mod, name)) for name in dir(signal_mod)
                           if name.startswith("SIG") and not name.startswith("SIG_")
                           and isinstance(getattr(signal_mod, name), int)}


def parse_signal(sig: str | int | None, default: int = signal_mod.SIGKILL) -> int:
    """A signal number for ``9``, ``KILL`` or ``SIGKILL``; ``default`` when none is given."""
    from .errors import InvalidArgument
    if sig is None or sig == "":
        return default
    if isinstance(sig, int) or str(sig).isdigit():
        n = int(sig)
        if n <= 0 or n > 64:
            raise InvalidArgument(f"Invalid signal: {sig}")
        return n
    name = str(sig).upper().removeprefix("SIG")
    if name not in SIGNALS:
        raise InvalidArgument(f"Invalid signal: {sig}")
    return SIGNALS[name]
