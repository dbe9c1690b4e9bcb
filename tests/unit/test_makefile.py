"""`make run` re-ran pip every time (3.7 s) and printed a 12-line setuptools warning.

Now pip runs when the packages were never installed or pyproject.toml changed (a stamp in .venv);
when nothing changed, the set-up before the dashboard prints nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def test_a_fresh_venv_gets_the_full_set_up(tmp_path: str) -> None:
    plan = make("-n", "deps", f"VENV={tmp_path}/venv").stdout
    assert f"-m venv {tmp_path}/venv" in plan
    assert "pip install -q -e '.'" in plan and "[test]" not in plan  # the dashboard needs no test extra
    plan = make("-n", "test-deps", f"VENV={tmp_path}/venv").stdout
    assert f"-m venv {tmp_path}/venv" in plan and "pip install -q -e '.[test]'" in plan


def test_a_changed_pyproject_installs_again(tmp_path: str) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    stamp = venv / ".portside-installed"
    stamp.write_text("")
    os.utime(stamp, (1, 1))  # older than pyproject.toml
    assert "pip install" in make("-n", "deps", f"VENV={venv}").stdout
    os.utime(stamp, None)  # newer than pyproject.toml and the Makefile
    assert make("-n", "deps", f"VENV={venv}").stdout.strip() == ":"


def test_nothing_changed_nothing_printed() -> None:
    if make("-q", ".venv/.portside-installed").returncode != 0:
        pytest.skip("this checkout's packages are not installed through make (run `make deps` once)")
    proc = make("deps")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
