"""Process facts from /proc, shared by the monitor and crash recovery (standard library only)."""

from __future__ import annotations


def proc_start_time(pid: int) -> int:
    """The process's start time in clock ticks (field 22 of /proc/pid/stat), 0 when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return 0
    return int(data[data.rindex(b")") + 2:].split()[19])
