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


def deaf_to(pid: int, sig: int) -> bool:
    """Whether ``sig`` sent to ``pid`` can only be dropped: the process is the init of its own pid
    namespace and has no handler for it. The kernel discards such a signal (pid_namespaces(7): only
    SIGKILL and SIGSTOP are forced on a namespace's init), so waiting for it to act is waiting for
    nothing. False when the facts cannot be read (the caller then waits as usual)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            fields = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
        nspid = fields[b"NSpid"].split()
        caught = int(fields[b"SigCgt"].strip(), 16)
    except (OSError, KeyError, ValueError):
        return False
    if len(nspid) < 2 or nspid[-1] != b"1" or not 0 < sig < 65:
        return False
    return not caught & (1 << (sig - 1))
