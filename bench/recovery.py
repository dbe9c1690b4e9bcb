"""What crash recovery at engine open costs each command, as ratios to the rest of that open.

    .venv/bin/python bench/recovery.py [--containers 10] [--n 500]     (as root)

In a private data root with N stopped containers, times in-process (medians over ``--n``):

- ``cleanup.sweep`` with no operation record (the usual case: one listdir);
- ``cleanup.sweep`` after a command that made temp files exited (its dead owner's marker: the three
  temp folders are listed once, then the marker goes);
- the whole ``engine.system.recover`` and ``engine.containers.list(all=True)`` (what ``container ls`` does
  after).

Prints each figure and the ratios sweep / recover and sweep / (recover + list). The data root is
deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from engine.engine import Engine  # noqa: E402
from engine.runtime import cleanup  # noqa: E402


def median_us(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=10)
    ap.add_argument("--n", type=int, default=500)
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="portside-bench-recovery-")
    try:
        root = os.path.join(base, "root")
        tar = os.path.join(base, "rootfs.tar")
        with tarfile.open(tar, "w") as tf:
            tf.add("/bin/busybox", "bin/busybox")
        env = dict(os.environ, PORTSIDE_ROOT=root)
        cli = [sys.executable, "-m", "tui.cli"]
        subprocess.run(cli + ["import", tar, "bb"], env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        for _ in range(args.containers):
            subprocess.run(cli + ["create", "--network", "none", "bb", "/bin/busybox", "true"], env=env, cwd=REPO,
                           check=True, stdout=subprocess.DEVNULL)
        engine = Engine(root)
        engine.system.recover()
        empty = median_us(lambda: cleanup.sweep(root), args.n)

        def dead_marker() -> None:
            with open(os.path.join(cleanup.ops_dir(root), "1.1"), "w"):
                pass
            cleanup.sweep(root)
        after_exit = median_us(dead_marker, args.n)
        recover = median_us(engine.system.recover, max(50, args.n // 10))
        listing = median_us(lambda: asyncio.run(engine.containers.list(all=True)), max(50, args.n // 10))
        engine.close()
        print(f"sweep, no operation record        {empty:9.1f} us")
        print(f"sweep, a dead owner's marker      {after_exit:9.1f} us")
        print(f"recover ({args.containers} containers)            {recover:9.1f} us")
        print(f"containers.list(all=True)         {listing:9.1f} us")
        print(f"ratio sweep / recover             {empty / recover:9.4f}")
        print(f"ratio sweep / (recover + list)    {empty / (recover + listing):9.4f}")
    finally:
        subprocess.run(["umount", "-R", "-l", base], stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
