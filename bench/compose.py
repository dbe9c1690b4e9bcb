"""Reading the guide's compose file: engine.compose against the docker CLI's own loader, in one run.

    .venv/bin/python bench/compose.py      # BENCH_N repeats (default 30)

Figures (median and p90): in process, load + convert and load + validate + convert; as a fresh process,
``python -c`` doing load + validate + convert against ``docker stack config`` (docker's loader: read,
interpolate, schema-check and merge; no daemon) on the same file, and the interpreter's bare start.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests", "unit"))
N = int(os.environ.get("BENCH_N", "30"))

from compose_files import DOCKER_CLI, GUIDE  # noqa: E402  (the guide's file, shared with the tests)

from engine.compose import convert, load, validate  # noqa: E402


def _stats(samples: list[float]) -> str:
    samples = sorted(samples)
    p90 = samples[min(len(samples) - 1, int(len(samples) * 0.9))]
    return f"{statistics.median(samples) * 1000:.2f} ms (p90 {p90 * 1000:.2f})"


def _timed(fn: object, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    folder = tempfile.mkdtemp(prefix="portside-bench-compose-")
    try:
        path = os.path.join(folder, "docker-compose.yml")
        with open(path, "w") as f:
            f.write(GUIDE)

        def load_convert() -> None:
            convert(load([path], env={}), "getstartedlab")

        def load_validate_convert() -> None:
            project = load([path], env={})
            validate(project)
            convert(project, "getstartedlab")

        load_validate_convert()
        rows = [("load + convert (in process)", _stats(_timed(load_convert, N)), ""),
                ("load + validate + convert (in process)", _stats(_timed(load_validate_convert, N)), "")]
        code = ("from engine.compose import load, validate, convert\n"
                f"p = load([{path!r}], env={{}}); validate(p); convert(p, 'getstartedlab')\n")
        ours = _timed(lambda: subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True), N)
        peer = "n/a"
        ratio = "n/a"
        if DOCKER_CLI and shutil.which(DOCKER_CLI):
            theirs = _timed(lambda: subprocess.run([DOCKER_CLI, "stack", "config", "-c", path], check=True,
                                                   stdout=subprocess.DEVNULL), N)
            peer = _stats(theirs)
            ratio = f"{statistics.median(ours) / statistics.median(theirs):.2f}"
        rows.append(("fresh process: load + validate + convert / `docker stack config`", _stats(ours),
                     f"{peer}, ratio {ratio}"))
        bare = _timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), N)
        rows.append(("fresh process: `python -c pass` (the interpreter's own start)", _stats(bare), ""))
        print(f"| figure (guide's file, N={N}) | engine.compose | docker |")
        print("| --- | --- | --- |")
        for name, value, other in rows:
            print(f"| {name} | {value} | {other or 'n/a'} |")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
