"""The session leak check (tests/conftest.py) fails a session that leaves something behind.

An inner pytest session, with the leak check loaded, runs one test that mounts a tmpfs under its
temporary directory and a child process that outlives it; the session must fail and name both. A
session that leaves nothing passes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.hostobjects import mounts_under

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LEAKY = '''
import subprocess, tempfile
def test_leaves_a_mount_and_a_process():
    d = tempfile.mkdtemp(prefix="leaky-")
    subprocess.run(["mount", "-t", "tmpfs", "leaky", d], check=True)
    open(d + "/pid", "w").write(str(subprocess.Popen(["sleep", "60"]).pid))
'''
CLEAN = '''
def test_nothing():
    assert True
'''


def _inner(tmp_path: object, body: str) -> subprocess.CompletedProcess[str]:
    d = os.path.join(str(tmp_path), "inner")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "test_inner.py"), "w") as f:
        f.write(body)
    env = dict(os.environ, PYTHONPATH=REPO, PORTSIDE_LEAK_CHECK="session")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                           "--rootdir", d, d], env=env, cwd=d, capture_output=True, text=True, timeout=120)


def test_a_session_that_leaks_fails_and_names_what_leaked(tmp_path: object) -> None:
    proc = _inner(tmp_path, LEAKY)
    base = re.search(r"its files: (\S+)\)", proc.stdout)
    try:
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "leak check" in proc.stdout
        assert re.search(r"mount \S+/leaky-", proc.stdout), proc.stdout
        assert re.search(r"process \d+ \(sleep 60\)", proc.stdout), proc.stdout
    finally:
        if base:
            for mp in sorted(mounts_under([base.group(1)]), key=len, reverse=True):
                for name in os.listdir(mp):
                    if name == "pid":
                        with open(os.path.join(mp, name)) as f:
                            os.kill(int(f.read()), 9)  # the inner test's own child, by its pid
                subprocess.run(["umount", mp], check=True)


def test_a_session_that_leaves_nothing_passes(tmp_path: object) -> None:
    proc = _inner(tmp_path, CLEAN)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "leak check" not in proc.stdout
