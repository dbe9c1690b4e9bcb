"""What the embedded ``portside run --rm`` loads: a container's start reads the image's chain ids and its
unpacked layers, and needs none of OpenSSL, tar, compression, temporary files, the registry or the
builder (each a few milliseconds of every `run`; they load when a pull, build or save uses them)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# modules a container's start must not load: each was a cost of every `run` once
NOT_ON_THE_RUN_PATH = ("_hashlib", "hashlib", "ssl", "tarfile", "gzip", "tempfile", "urllib.parse", "secrets",
                       "asyncio", "engine.services.registry", "engine.services.build")


def test_an_embedded_run_loads_only_what_a_start_needs(root: str, imported: str, cli: Any) -> None:
    first = cli("run", "--rm", "--network", "none", "busybox", "true")  # unpacks the layers (tar, once)
    assert first.returncode == 0, first.stderr
    code = ("import sys, tui.cli\n"
            "rc = tui.cli.main(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'echo hi'])\n"
            f"print(rc, sorted(m for m in {NOT_ON_THE_RUN_PATH!r} if m in sys.modules))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["PORTSIDE_ROOT"] = root
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["hi", "0 []"], p.stdout + p.stderr
