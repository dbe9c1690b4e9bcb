"""Swarm mode needs ``portside daemon``: its reconciler keeps the services at their state, and it runs only
there (never in an embedded engine, or two processes would both start tasks). When the dashboard drives
the embedded engine and swarm mode is (or is about to be) on, it starts the daemon for that data root,
if none answers, and talks to it from then on — as the CLI does.

The default data root's daemon listens where ``portside daemon`` does by default; any other data root's
daemon listens on a socket inside that root (``<root>/daemon.sock``, pid file and log beside it), so two
data roots never share one.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from engine.api.daemon import DEFAULT_HOST, DEFAULT_LOG_FILE, DEFAULT_PIDFILE
from engine.client.contexts import portside_socket_answers
from engine.errors import Unavailable

__all__ = ["DaemonPlace", "daemon_place", "start_daemon"]


@dataclass(frozen=True)
class DaemonPlace:
    socket: str
    pidfile: str
    log_file: str

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"


def daemon_place(root: str | None) -> DaemonPlace:
    if not root:
        return DaemonPlace(DEFAULT_HOST.removeprefix("unix://"), DEFAULT_PIDFILE, DEFAULT_LOG_FILE)
    root = os.path.abspath(root)
    return DaemonPlace(os.path.join(root, "daemon.sock"), os.path.join(root, "daemon.pid"),
                       os.path.join(root, "daemon.log"))


def start_daemon(argv: list[str], root: str | None) -> tuple[DaemonPlace, str]:
    """Make sure the data root's daemon serves (``portside [--root R] daemon -d …``, which returns once it
    answers); (where it listens, the command line run without its program — ``""`` when one already
    answered). Blocking: run it in a thread. Raises Unavailable with the daemon's own line when it
    cannot start."""
    place = daemon_place(root)
    if portside_socket_answers(place.socket):
        return place, ""
    args = (["--root", root] if root else []) + ["daemon", "-d"]
    if root:
        args += ["-H", place.host, "-p", place.pidfile, "--log-file", place.log_file]
    done = subprocess.run(argv + args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        raise Unavailable(why[-1] if why else f"the daemon did not start (exit {done.returncode})")
    return place, " ".join(args)
