"""Two CLI commands running at once never corrupt it.

Many ``portside`` processes against one data root at the same time: distinct names all succeed, one
name asked for by many processes goes to exactly one of them (the rest get docker's Conflict and exit
125), ``ps -a`` then lists exactly what was made, and SQLite's integrity check passes. A few seconds of
``run -d`` / ``rm -f`` / ``images`` / ``tag`` loops in parallel never fail with "database is locked" or
a traceback.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

pytestmark = pytest.mark.root

Cli = Callable[..., subprocess.CompletedProcess[str]]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFLICT = "is already in use by container"


def _spawn(root: str, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PORTSIDE_ROOT=root)
    env.pop("DOCKER_HOST", None)
    return subprocess.Popen([sys.executable, "-m", "tui.cli", *args], env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _all_at_once(root: str, argvs: list[list[str]], timeout: float = 120) -> list[tuple[int, str, str]]:
    """Start every command, then collect (returncode, stdout, stderr) of each, in order."""
    procs = [_spawn(root, *a) for a in argvs]
    out = []
    try:
        for p in procs:
            so, se = p.communicate(timeout=timeout)
            out.append((p.returncode, so, se))
    finally:
        for p in procs:  # only our own children, by their Popen handle
            if p.poll() is None:
                p.kill()
                p.wait()
    return out


def _integrity(root: str) -> str:
    db = sqlite3.connect(os.path.join(root, "state.db"), timeout=30)
    try:
        return ",".join(r[0] for r in db.execute("PRAGMA integrity_check").fetchall())
    finally:
        db.close()


def _clean(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert "database is locked" not in stderr, stderr


def test_first_commands_on_a_fresh_root_race_safely(root: str) -> None:
    """The very first commands on an empty data root create the database at the same time."""
    res = _all_at_once(root, [["images"], ["ps", "-a"], ["volume", "ls"], ["images", "-q"]] * 2)
    for rc, _, err in res:
        _clean(err)
        assert rc == 0, err
    assert _integrity(root) == "ok"


def test_parallel_creates_distinct_and_same_name(root: str, cli: Cli, imported: str) -> None:
    n_distinct, n_same = 8, 6
    argvs = [["create", "--name", f"c{i}", "busybox", "true"] for i in range(n_distinct)]
    argvs += [["create", "--name", "same", "busybox", "true"] for _ in range(n_same)]
    res = _all_at_once(root, argvs)

    for i, (rc, out, err) in enumerate(res[:n_distinct]):
        _clean(err)
        assert rc == 0, f"create c{i}: {err}"
        assert len(out.strip()) == 64, out
    same = res[n_distinct:]
    for _, _, err in same:
        _clean(err)
    winners = [r for r in same if r[0] == 0]
    losers = [r for r in same if r[0] != 0]
    assert len(winners) == 1, [(rc, err.strip()) for rc, _, err in same]
    winner_id = winners[0][1].strip()
    for rc, _, err in losers:
        assert rc == 125, err
        assert f'The container name "/same" {CONFLICT} "{winner_id}"' in err, err

    p = cli("ps", "-a", "--format", "{{.Names}}")
    assert p.returncode == 0, p.stderr
    names = p.stdout.split()
    assert sorted(names) == sorted([f"c{i}" for i in range(n_distinct)] + ["same"])
    p = cli("ps", "-aq", "--no-trunc")
    ids = p.stdout.split()
    assert len(ids) == len(set(ids)) == n_distinct + 1
    assert winner_id in ids
    # nothing half-made is left behind by the losers
    cdir = os.path.join(root, "containers")
    if os.path.isdir(cdir):
        assert sorted(os.listdir(cdir)) == sorted(ids)
    assert _integrity(root) == "ok"


def test_parallel_run_rm_images_tag_loops(root: str, cli: Cli, imported: str) -> None:
    duration = 5.0
    results: list[tuple[str, int, str]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        p = cli(*args, timeout=60)
        with lock:
            results.append((" ".join(args), p.returncode, p.stderr))
        return p

    def runner(k: int) -> None:
        i = 0
        while time.monotonic() < stop_at:
            p = call("run", "-d", "--name", f"r{k}_{i}", "busybox", "sleep", "30")
            if p.returncode == 0:
                call("rm", "-f", p.stdout.strip())
            i += 1

    def imager() -> None:
        while time.monotonic() < stop_at:
            call("images")
            call("ps", "-a")

    def tagger() -> None:
        i = 0
        while time.monotonic() < stop_at:
            call("tag", "busybox", f"busybox:t{i}")
            if i % 2:
                call("rmi", f"busybox:t{i - 1}")
            i += 1

    threads = [threading.Thread(target=f, args=a) for f, a in
               ((runner, (0,)), (runner, (1,)), (imager, ()), (tagger, ()))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 120)
    assert not any(t.is_alive() for t in threads)

    assert len(results) >= 8, results
    bad = [(cmd, rc, err.strip()[-1000:]) for cmd, rc, err in results
           if rc != 0 or "Traceback" in err or "database is locked" in err]
    assert not bad, bad
    p = cli("ps", "-aq")
    assert p.returncode == 0 and p.stdout.split() == [], p.stdout + p.stderr
    assert _integrity(root) == "ok"
