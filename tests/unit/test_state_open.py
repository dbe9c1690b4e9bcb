"""A new data root's database opened by several processes at once (the first CLI calls, together)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# each process waits for the go file, then opens the new database: all eight at the same moment
OPEN = ("import os, sys, time\nsys.path.insert(0, sys.argv[1])\nfrom engine.state import State\n"
        "while not os.path.exists(sys.argv[3]):\n    time.sleep(0.0005)\nState(sys.argv[2]).close()\n")


def test_many_processes_opening_a_new_database_all_get_it_in_wal(tmp_path: os.PathLike[str]) -> None:
    # separate processes (not forks of this one, which may hold a thread's lock by now)
    for r in range(12):
        path = os.path.join(str(tmp_path), f"db{r}")
        go = os.path.join(str(tmp_path), f"go{r}")
        procs = [subprocess.Popen([sys.executable, "-c", OPEN, REPO, path, go], stderr=subprocess.PIPE)
                 for _ in range(8)]
        time.sleep(0.3)  # (a bound on their start-up, not a timing check: they wait for the go file)
        with open(go, "w"):
            pass
        errors = [p.communicate(timeout=60)[1].decode() for p in procs]
        assert [p.returncode for p in procs] == [0] * 8, f"round {r}: an open failed: {errors}"
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
