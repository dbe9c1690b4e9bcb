"""A new data root's database opened by several processes at once (the first CLI calls, together)."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3

from engine.state import State


def _open(path: str) -> None:
    State(path).close()


def test_many_processes_opening_a_new_database_all_get_it_in_wal(tmp_path: os.PathLike[str]) -> None:
    ctx = multiprocessing.get_context("fork")
    for r in range(25):
        path = os.path.join(str(tmp_path), f"db{r}")
        procs = [ctx.Process(target=_open, args=(path,)) for _ in range(8)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 8, f"round {r}: an open failed (database is locked)"
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
