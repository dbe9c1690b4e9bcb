"""What the command line says when it cannot do something: one line, in the user's words, true today.

Before: `swarm init` answered "not built yet (networking and swarm services come with their own
issues)", `--host` was "not a portside command", a pull with no network said `dial tcp …: no such
host` and offered nothing, the build log said `ERROR: ERROR:`, and `COPY --from` said pulling was not
built while pull worked.
"""

from __future__ import annotations

import ast
import glob
import os
import re
import subprocess
from collections.abc import Callable

import pytest

Cli = Callable[..., subprocess.CompletedProcess[str]]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WAY = "to make a busybox image without a registry, run: portside image busybox"
# a loopback registry where nothing listens: tests never reach out to the internet
NOWHERE = "localhost:9"


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("args", [["stack", "ls"], ["service", "ls"], ["node", "ls"], ["stack", "ps", "x"]])
def test_swarm_commands_before_swarm_init_say_so(cli: Cli, args: list[str]) -> None:
    proc = cli(*args)
    assert proc.returncode == 1
    line = one_line(proc)
    assert line.startswith("Error response from daemon: This node is not a swarm manager.")
    assert 'Use "portside swarm init" or "portside swarm join"' in line  # this CLI's commands, not docker's


def test_an_engine_that_does_not_answer_is_one_line(cli: Cli, tmp_path: str) -> None:
    sock = f"{tmp_path}/none.sock"
    for args in (["--host", f"unix://{sock}", "ps"], ["-H", f"unix://{sock}", "images"]):
        proc = cli(*args)
        assert proc.returncode == 1 and proc.stdout == ""
        assert one_line(proc) == f"cannot connect to the Docker engine at unix://{sock}: no such socket"


def test_unsupported_options_say_so(cli: Cli, tmp_path: str) -> None:
    proc = cli("search", "busybox")
    assert proc.returncode == 1 and "Portside does not search registries" in one_line(proc)
    proc = cli("pull", "--all-tags", f"{NOWHERE}/x")
    assert proc.returncode == 1 and one_line(proc).endswith("pull --all-tags is not supported; pull the tags one "
                                                             "by one")
    proc = cli("import", "http://192.0.2.1/rootfs.tar", "mine")
    assert proc.returncode == 1
    assert one_line(proc).endswith("importing from a URL is not supported; download it, then: portside import FILE "
                                   "mine")
    proc = cli("build", "-")
    assert proc.returncode == 1
    assert one_line(proc) == "ERROR: a build context on stdin (-) is not supported; pass a directory"


def test_pull_from_an_unreachable_registry_offers_the_way(cli: Cli) -> None:
    proc = cli("pull", f"{NOWHERE}/library/busybox")
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"Error response from daemon: cannot reach {NOWHERE} (connection refused): {WAY}"


@pytest.mark.root
def test_run_and_build_from_an_unreachable_registry(cli: Cli, tmp_path: str) -> None:
    proc = cli("run", "--rm", "--network", "none", f"{NOWHERE}/busybox", "true")
    assert proc.returncode == 125
    assert proc.stderr.splitlines() == [f"Unable to find image '{NOWHERE}/busybox:latest' locally",
                                        f"portside: Error response from daemon: cannot reach {NOWHERE} "
                                        f"(connection refused): {WAY}"]
    (tmp_path / "Dockerfile").write_text(f"FROM {NOWHERE}/busybox\n")
    proc = cli("build", str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"ERROR: FROM {NOWHERE}/busybox: cannot reach {NOWHERE} (connection refused): {WAY}"
    assert cli("images", "-aq").stdout == ""


@pytest.mark.root
def test_build_errors_say_error_once(cli: Cli, imported: str, tmp_path: str) -> None:
    """The build stream's error is the bare message (the API's shape); the CLI adds one "ERROR: "."""
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY --from=nosuchstage /x /x\n")
    proc = cli("build", str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("ERROR: COPY --from=nosuchstage /x /x: COPY --from: no stage or local image "
                                   "named nosuchstage (COPY --from does not pull; run: portside pull nosuchstage)")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    proc = cli("build", str(tmp_path))
    assert proc.returncode == 1 and proc.stderr.count("ERROR:") == 1, proc.stderr


def user_strings(path: str) -> list[tuple[int, str]]:
    """String literals of a module that are not docstrings (what it may show a user)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_no_message_speaks_of_issues_or_unbuilt_things() -> None:
    files = sorted(glob.glob(os.path.join(REPO, "engine", "**", "*.py"), recursive=True))
    files += sorted(glob.glob(os.path.join(REPO, "tui", "cli", "**", "*.py"), recursive=True))
    bad = [f"{os.path.relpath(path, REPO)}:{line}: {text!r}" for path in files for line, text in user_strings(path)
           if re.search(r"not built|\bissues?\b|\byet\b|\bticket", text, re.I)]
    assert bad == []


def test_network_rm_force_ignores_a_missing_network(cli: Cli) -> None:
    """docker's `network rm -f`: a network that does not exist is no error and prints nothing."""
    proc = cli("network", "rm", "-f", "no-such-net")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    proc = cli("network", "rm", "no-such-net")
    assert proc.returncode == 1 and one_line(proc) == "Error response from daemon: network no-such-net not found"


@pytest.mark.parametrize("args, words", [(["foo"], "foo"), (["image", "foo"], "image foo"),
                                         (["network", "foo", "x"], "network foo")])
def test_unknown_command(cli: Cli, args: list[str], words: str) -> None:
    """docker's words for a command that does not exist (the help's COMMAND metavar must not leak)."""
    proc = cli(*args)
    assert proc.returncode == 125
    assert proc.stderr == f"portside: '{words}' is not a portside command.\nSee 'portside --help'.\n"
