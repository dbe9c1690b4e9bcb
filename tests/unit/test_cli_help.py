"""The command line teaches: every command and every flag says what it does, in docker's words.

Before, `portside --help` listed stop, kill, rm, logs, exec, ps … with no description and `run --help`
showed ~40 flags with none described.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tui.cli import build_parser

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def walk(parser: argparse.ArgumentParser, path: str = "portside") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    yield from walk(sub, f"{path} {name}")


def command_helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    """``{command: the help line the parent's --help shows}`` for each command directly below ``parser``."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                found[choice.dest] = choice.help or ""
    return found


def test_every_command_has_a_description() -> None:
    missing = []
    for path, parser in walk(build_parser()):
        for name, help in command_helps(parser).items():
            if not help.strip():
                missing.append(f"{path} {name}")
        if path != "portside" and not (parser.description or "").strip():
            missing.append(f"{path} (its own --help)")
    assert missing == []


def test_every_flag_and_argument_has_a_description() -> None:
    missing = []
    count = 0
    for path, parser in walk(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            count += 1
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        parser.format_help()  # a stray % in a help string fails here
    assert missing == []
    assert count > 300  # the walk reached every command (run alone has ~40 flags)


@pytest.mark.parametrize("path, flag, words", [
    ("run", "--rm", "Automatically remove the container and its associated anonymous volumes when it exits"),
    ("run", "-p", "Publish a container's port(s) to the host"),
    ("run", "-d", "Run container in background and print container ID"),
    ("stop", "-t", "Seconds to wait before killing the container"),
    ("rm", "-f", "Force the removal of a running container (uses SIGKILL)"),
    ("logs", "-f", "Follow log output"),
    ("exec", "-d", "Detached mode: run command in the background"),
    ("ps", "-a", "Show all containers (default shows just running)"),
    ("build", "-t", 'Name and optionally a tag in the "name:tag" format'),
    ("image prune", "-a", "Remove all unused images, not just dangling ones"),
])
def test_docker_words(path: str, flag: str, words: str) -> None:
    parser = dict(walk(build_parser()))[f"portside {path}"]
    action = next(a for a in parser._actions if flag in a.option_strings)
    assert action.help == words


def test_command_lines_in_the_listings() -> None:
    top = command_helps(build_parser())
    assert top["stop"] == "Stop one or more running containers"
    assert top["kill"] == "Kill one or more running containers"
    assert top["rm"] == "Remove one or more containers"
    assert top["logs"] == "Fetch the logs of a container"
    assert top["exec"] == "Execute a command in a running container"
    assert top["ps"] == "List containers"
    image = command_helps(dict(walk(build_parser()))["portside image"])
    assert image["busybox"] == "Make a busybox image from this host's busybox-static, no registry needed"


def test_help_output_shows_them() -> None:
    """What a user sees: `portside --help` and `portside run --help` from the console script's module."""
    def help_of(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "tui.cli", *args, "--help"], cwd=REPO, capture_output=True,
                              text=True, timeout=30, env=dict(os.environ, COLUMNS="100"))
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    top = help_of()
    assert "Fetch the logs of a container" in top and "Kill one or more running containers" in top
    run = help_of("run")
    assert "Keep STDIN open even if not attached" in run and "Print usage" in run
    assert "Bind mount a volume" in help_of("container", "run")
