"""Process facts from /proc, shared by the monitor and crash recovery (standard library only)."""

from __future__ import annotations

import os


def proc_start_time(pid: int) -> int:
    """The process's start time in clock ticks (field 22 of /proc/pid/stat), 0 when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return 0
    return int(data[data.rindex(b")") + 2:].split()[19])


# rt_sigtimedwait(2) by machine: an init that waits for its signals there (tini, docker-init) has no
# handler and, while it waits, shows them neither caught nor blocked; the kernel still delivers them
_SIGTIMEDWAIT = {"x86_64": 128, "aarch64": 137, "riscv64": 137, "armv7l": 177, "armv6l": 177, "i686": 177,
                 "ppc64le": 176, "s390x": 177}


def _signal_mask(pid: int) -> tuple[list[bytes], int] | None:
    """(NSpid, caught | blocked) from ``/proc/<pid>/status``; None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            fields = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
        return fields[b"NSpid"].split(), int(fields[b"SigCgt"].strip(), 16) | int(fields[b"SigBlk"].strip(), 16)
    except (OSError, KeyError, ValueError):
        return None


def deaf_to(pid: int, sig: int) -> bool:
    """Whether ``sig`` sent to ``pid`` can only be dropped: the process is the init of its own pid
    namespace, has no handler for it, does not block it (a blocked signal is queued: the process may take
    it with sigwait or a signalfd) and is not waiting for signals in rt_sigtimedwait. The kernel discards
    such a signal (pid_namespaces(7): only SIGKILL and SIGSTOP are forced on a namespace's init), so
    waiting for it to act is waiting for nothing. False when the facts cannot be read (the caller then
    waits as usual)."""
    if not 0 < sig < 65:
        return False
    bit = 1 << (sig - 1)
    before = _signal_mask(pid)
    if before is None or len(before[0]) < 2 or before[0][-1] != b"1" or before[1] & bit:
        return False
    waits = _SIGTIMEDWAIT.get(os.uname().machine)
    try:
        with open(f"/proc/{pid}/syscall", "rb") as f:
            call = f.read().split(b" ", 1)[0]
    except OSError:
        return False
    if waits is None or call == str(waits).encode():
        return False
    after = _signal_mask(pid)  # (it may have left the wait meanwhile: then it blocks the signal again)
    return after is not None and not after[1] & bit