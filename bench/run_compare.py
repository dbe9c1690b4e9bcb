"""The embedded CLI of this tree against an older commit's, interleaved (as root).

    .venv/bin/python bench/run_compare.py bf66b98          # BENCH_N rounds (default 30)
    .venv/bin/python bench/run_compare.py bf66b98 --cmd "container ls" --cmd "run --rm --network none busybox true"

The old commit is exported with ``git archive`` into a temporary folder; both trees are byte-compiled
(a user's install has its ``.pyc``: without them every call recompiles what it imports) and each gets
its own private ``PORTSIDE_ROOT`` with the same busybox rootfs imported. Both run with this tree's
virtualenv and the same console-script shim (``from tui.cli import entry``), the tree put first on
``sys.path`` by ``PYTHONPATH``. Each round runs old then new, or new then old (alternating), so load
from elsewhere on the machine falls on both alike. Wall time is the parent's clock around the child;
CPU is the child's user + system time from ``os.wait4`` (with whatever it waited for). Figures are
medians (p90 in brackets); the ratio is new/old; "paired" is the median of each round's new − old, which
outside load that changes from round to round disturbs less than it does either median. Afterwards the containers are removed, mounts under
the folder unmounted and the folder deleted.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from types import ModuleType

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
N = int(os.environ.get("BENCH_N", "30"))
DEFAULT_CMDS = ["run --rm --network none busybox true", "container ls"]
SHIM = "import sys\nfrom tui.cli import entry\nsys.argv[0] = 'portside'\nsys.exit(entry())\n"


def _run_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("portside_bench_run", os.path.join(HERE, "run.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


B = _run_module()


class Tree:
    """One source tree with its own engine state, run through the shim."""

    def __init__(self, label: str, src: str, base: str) -> None:
        self.label, self.src = label, src
        self.root = os.path.join(base, f"root-{label}")
        self.shim = os.path.join(base, f"portside-{label}")
        with open(self.shim, "w") as f:
            f.write(SHIM)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env.update(PORTSIDE_ROOT=self.root, PYTHONPATH=src)
        subprocess.run([sys.executable, "-m", "compileall", "-q", "engine", "tui"], cwd=src, env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)

    def argv(self, cmd: str) -> list[str]:
        return [sys.executable, self.shim, *shlex.split(cmd)]

    def sh(self, cmd: str) -> str:
        return B.sh(self.argv(cmd), env=self.env, cwd=self.src, timeout=120).stdout

    def timed(self, cmd: str) -> tuple[float, float]:
        """(wall, cpu) seconds of one call; raises when it fails."""
        t = time.perf_counter()
        p = subprocess.Popen(self.argv(cmd), env=self.env, cwd=self.src, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert p.stderr is not None
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        p.stderr.close()
        if p.returncode != 0:
            raise B.CmdError(f"{self.label}: portside {cmd} exited {p.returncode}: "
                             f"{err.decode(errors='replace')[-300:]}")
        return wall, ru.ru_utime + ru.ru_stime

    def cleanup(self) -> None:
        try:
            ids = self.sh("ps -aq").split()
            if ids:
                self.sh("rm -f " + " ".join(ids))
        except B.CmdError as exc:
            B.log(f"{self.label} cleanup: {exc}")


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms (p90 {B.pct(values, 0.9) * 1000:.1f})"


def paired(values: dict[str, list[float]]) -> float:
    """The median of the rounds' new − old, in ms."""
    return statistics.median(n - o for o, n in zip(values["old"], values["new"])) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", help="the commit to compare with (e.g. bf66b98)")
    ap.add_argument("--cmd", action="append", help="a portside command line (repeatable); default: "
                    + "; ".join(DEFAULT_CMDS))
    ap.add_argument("-n", type=int, default=N, help="rounds (default BENCH_N or 30)")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/run_compare.py needs root (real containers)", file=sys.stderr)
        return 1
    rev = subprocess.run(["git", "rev-parse", "--short", opts.old + "^{commit}"], cwd=REPO, capture_output=True,
                         text=True)
    if rev.returncode != 0:
        print(f"bench/run_compare.py: no such commit: {opts.old}", file=sys.stderr)
        return 1
    old_rev = rev.stdout.strip()
    new_rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "engine", "tui"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    cmds = opts.cmd or DEFAULT_CMDS
    before = B.host_leftovers_before()
    base = tempfile.mkdtemp(prefix="ps-bcmp-", dir="/tmp")
    trees: list[Tree] = []
    try:
        src = os.path.join(base, "old-src")
        os.makedirs(src)
        archive = subprocess.Popen(["git", "archive", old_rev], cwd=REPO, stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", src], stdin=archive.stdout, check=True)
        archive.wait()
        if archive.returncode != 0:
            raise B.CmdError(f"git archive {old_rev} failed")
        trees = [Tree("old", src, base), Tree("new", REPO, base)]
        tar = os.path.join(base, "rootfs.tar")
        B.make_rootfs_tar(tar)
        for t in trees:
            t.sh(f"import {tar} busybox")
        lines = [f"`portside` embedded, {old_rev} (old) vs {new_rev}{' + changes' if dirty else ''} (new), "
                 f"{opts.n} interleaved rounds, medians (p90)", "",
                 "| command | old wall | new wall | ratio | paired | old CPU | new CPU | ratio | paired |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for cmd in cmds:
            for t in trees:  # warm-up: the page cache, the images' first use
                t.timed(cmd)
                t.timed(cmd)
            wall: dict[str, list[float]] = {"old": [], "new": []}
            cpu: dict[str, list[float]] = {"old": [], "new": []}
            for i in range(opts.n):
                for t in (trees if i % 2 == 0 else trees[::-1]):
                    w, c = t.timed(cmd)
                    wall[t.label].append(w)
                    cpu[t.label].append(c)
            lines.append(f"| `{cmd}` | {ms(wall['old'])} | {ms(wall['new'])} | "
                         f"{statistics.median(wall['new']) / statistics.median(wall['old']):.2f} | "
                         f"{paired(wall):+.1f} ms | {ms(cpu['old'])} | {ms(cpu['new'])} | "
                         f"{statistics.median(cpu['new']) / statistics.median(cpu['old']):.2f} | "
                         f"{paired(cpu):+.1f} ms |")
            B.log(lines[-1])
        load = os.getloadavg()
        lines += ["", f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"]
        print("\n".join(lines))
        return 0
    finally:
        for t in trees:
            t.cleanup()
        left = B.unmount_all_under(base)
        if not left:
            shutil.rmtree(base, ignore_errors=True)
        B.remove_host_leftovers(before)


if __name__ == "__main__":
    sys.exit(main())
