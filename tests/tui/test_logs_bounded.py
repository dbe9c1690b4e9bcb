"""The dashboard's log view on a large log: only the tail is loaded, then it follows (root only)."""

from __future__ import annotations

import json
import os
import resource

import pytest
from engine_helpers import SIZE, run_sleeper, until

from tui.app import PortsideApp
from tui.screens.logs import TAIL, LogsScreen

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run containers"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs /bin/busybox"),
]


def entry(text: str) -> bytes:
    return json.dumps({"log": text + "\n", "stream": "stdout", "time": "2026-01-01T00:00:00.000000000Z"}).encode() + b"\n"


async def test_log_view_of_a_large_log_loads_only_its_tail(root: str) -> None:
    """Opening the log view of a container with a large log read and parsed the whole file (a 1 GB log:
    gigabytes of memory, the view blank for a minute); only the last lines are read now, and the view
    follows what comes next."""
    cid = await run_sleeper(root, "big")
    path = os.path.join(root, "containers", cid, "log.jsonl")
    with open(path, "ab") as f:  # ~90 MB
        for chunk in range(60):
            f.write(b"".join(entry(f"line {chunk * 10000 + i} " + "x" * 100) for i in range(10000)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: cid in app.containers_pane.table.row_keys)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogsScreen))
        logs = app.screen
        assert isinstance(logs, LogsScreen)
        await until(pilot, lambda: bool(logs.entries) and logs.entries[-1].text.startswith("line 599999 "))
        assert len(logs.entries) == TAIL and logs.entries[0].text.startswith(f"line {600000 - TAIL} ")
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        assert grown < 100 * 1024, f"peak RSS grew by {grown} KiB"
        with open(path, "ab") as f:
            f.write(entry("after the tail"))
        await until(pilot, lambda: logs.entries[-1].text == "after the tail")
