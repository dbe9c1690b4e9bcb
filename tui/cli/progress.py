"""Docker's JSON progress messages (pull, push) printed as docker's CLI prints them.

On a terminal each layer keeps one line that is redrawn in place (``a3ed95caeb02: Downloading
[=====>    ]  1.2MB/3.4MB``); otherwise only status changes are printed, one per line, without bars.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import Any, TextIO


class ProgressPrinter:
    def __init__(self, out: TextIO, tty: bool | None = None, quiet: bool = False) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.quiet = quiet
        self.ids: list[str] = []

    def __call__(self, msg: dict[str, Any]) -> None:
        if self.quiet or "aux" in msg:
            return
        status = str(msg.get("status", ""))
        id_ = str(msg.get("id", ""))
        detail = msg.get("progressDetail") or {}
        if not self.tty:
            if detail.get("current") is not None:
                return
            self.out.write(f"{id_}: {status}\n" if id_ else f"{status}\n")
            self.out.flush()
            return
        text = f"{id_}: {status}" if id_ else status
        if msg.get("progress"):
            text += " " + str(msg["progress"])
        if not id_:
            self.ids = []
            self.out.write(text + "\n")
        elif id_ not in self.ids:
            self.ids.append(id_)
            self.out.write(text + "\n")
        else:
            up = len(self.ids) - self.ids.index(id_)
            self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\r\x1b[{up}B")
        self.out.flush()
