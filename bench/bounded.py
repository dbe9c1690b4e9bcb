"""Bounded inputs: what large input costs, as ratios against a small input measured in the same run.

    .venv/bin/python bench/bounded.py      (as root; a private PORTSIDE_ROOT under /tmp, deleted after)

- ``logs --tail 10`` on a 1 GiB json-file log against a 1 MiB one (wall time and peak RSS);
- parsing a Dockerfile with one 5 MB LABEL line against a 50 kB one (time per byte);
- building 10,000 LABEL lines against 100, and as many ENV lines (time per line);
- the disk an unpacked layer holding a 2 GiB sparse file takes (``du``), against its apparent size.

A linear cost shows as a per-unit ratio near 1 (tail: a ratio near 1 at 1000× the size).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))


def cli(root: str, *args: str) -> tuple[float, str]:
    """(seconds, stdout) of one CLI command."""
    env = dict(os.environ, PORTSIDE_ROOT=root)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tui.cli", *args], env=env, cwd=REPO, capture_output=True)
    took = time.monotonic() - start
    if proc.returncode:
        raise SystemExit(f"portside {' '.join(args)} failed: {proc.stderr.decode(errors='replace')[-500:]}")
    return took, proc.stdout.decode(errors="replace")


def measured(root: str, *args: str) -> tuple[float, int]:
    """Best of 3 (seconds, peak RSS KiB), the RSS read from /usr/bin/time."""
    best = (float("inf"), 0)
    for _ in range(3):
        env = dict(os.environ, PORTSIDE_ROOT=root)
        start = time.monotonic()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "tui.cli", *args], env=env,
                              cwd=REPO, capture_output=True, text=True)
        took = time.monotonic() - start
        if proc.returncode:
            raise SystemExit(f"portside {' '.join(args)} failed: {proc.stderr[-500:]}")
        best = min(best, (took, int(proc.stderr.strip().splitlines()[-1])))
    return best


def write_log(path: str, size: int) -> None:
    line = json.dumps({"log": "x" * 150 + "\n", "stream": "stdout", "time": "2026-01-01T00:00:00.000000000Z"})
    block = (line + "\n").encode() * 10000
    with open(path, "wb") as f:
        while f.tell() < size:
            f.write(block[: size - f.tell()] if size - f.tell() < len(block) else block)
    with open(path, "ab") as f:
        f.write(b"\n")


def main() -> int:
    import conftest
    from engine.build import parser

    base = tempfile.mkdtemp(prefix="portside-bench-bounded-")
    rows: list[tuple[str, str, str, str]] = []
    try:
        root = os.path.join(base, "root")
        conftest.make_busybox_tar(os.path.join(base, "bb.tar"))
        cli(root, "import", os.path.join(base, "bb.tar"), "busybox")

        # logs --tail
        small = cli(root, "create", "--network", "none", "busybox", "true")[1].strip()
        big = cli(root, "create", "--network", "none", "busybox", "true")[1].strip()
        write_log(os.path.join(root, "containers", small, "log.jsonl"), 1 << 20)
        write_log(os.path.join(root, "containers", big, "log.jsonl"), 1 << 30)
        t_small, m_small = measured(root, "logs", "--tail", "10", small)
        t_big, m_big = measured(root, "logs", "--tail", "10", big)
        rows.append(("logs --tail 10: 1 GiB vs 1 MiB log", f"{t_big:.3f} s, {m_big / 1024:.1f} MiB",
                     f"{t_small:.3f} s, {m_small / 1024:.1f} MiB", f"{t_big / t_small:.2f}"))
        os.unlink(os.path.join(root, "containers", big, "log.jsonl"))

        # parser: one long line
        def parse_time(n: int) -> float:
            text = "FROM scratch\nLABEL a=" + "b" * n + ' c="d e"\n'
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                parser.parse_kv(parser.parse(text).instructions[1], {})
                best = min(best, time.perf_counter() - start)
            return best
        p_big, p_small = parse_time(5_000_000), parse_time(50_000)
        rows.append(("parse + expand a LABEL line: 5 MB vs 50 kB", f"{p_big:.3f} s", f"{p_small * 1000:.2f} ms",
                     f"{(p_big / 5_000_000) / (p_small / 50_000):.2f} per byte"))

        # builds of many LABEL lines
        def build_time(what: str, n: int) -> float:
            ctx = os.path.join(base, f"ctx-{what}{n}")
            os.makedirs(ctx, exist_ok=True)
            with open(os.path.join(ctx, "Dockerfile"), "w") as f:
                f.write("FROM busybox\n" + "".join(f"{what} key{i}=value{i}\n" for i in range(n)))
            return cli(root, "build", "-q", "--no-cache", "-t", f"{what.lower()}{n}", ctx)[0]
        for what in ("LABEL", "ENV"):
            b_big, b_small = build_time(what, 10_000), build_time(what, 100)
            rows.append((f"build, {what} lines: 10,000 vs 100", f"{b_big:.2f} s", f"{b_small:.2f} s",
                         f"{(b_big / 10_000) / (b_small / 100):.2f} per line"))

        # a sparse file in a layer
        src = os.path.join(base, "sparse")
        os.makedirs(src)
        with open(os.path.join(src, "big"), "wb") as f:
            f.truncate(2 << 30)
            f.seek((2 << 30) - 4)
            f.write(b"end\n")
        layer = os.path.join(base, "sparse.tar")
        subprocess.run(["tar", "-cSf", layer, "-C", src, "big"], check=True)
        cli(root, "import", layer, "sparse")
        cli(root, "create", "--network", "none", "sparse", "/big")
        du = 0
        for d in os.listdir(os.path.join(root, "layers")):
            diff = os.path.join(root, "layers", d, "diff")
            if os.path.exists(os.path.join(diff, "big")):
                du = int(subprocess.run(["du", "-sk", diff], capture_output=True, text=True).stdout.split()[0])
        rows.append(("unpacked layer with a 2 GiB sparse file (du)", f"{du} KiB",
                     f"{os.path.getsize(layer) // 1024} KiB tar", f"{du / (2 << 20):.5f} of apparent"))
    finally:
        subprocess.run([sys.executable, "-m", "tui.cli", "rm", "-f",
                        *subprocess.run([sys.executable, "-m", "tui.cli", "ps", "-aq"], cwd=REPO, capture_output=True,
                                        text=True, env=dict(os.environ, PORTSIDE_ROOT=os.path.join(base, "root"))
                                        ).stdout.split()],
                       cwd=REPO, capture_output=True, env=dict(os.environ, PORTSIDE_ROOT=os.path.join(base, "root")))
        shutil.rmtree(base, ignore_errors=True)
    print("| measure | large | small | ratio |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
