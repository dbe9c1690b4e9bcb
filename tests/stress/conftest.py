"""The stress suite's fixtures (the integration tests' ``root``, ``cli``, ``imported``, ``busybox_tar``,
``registry``),
and its seed and figures at the end of pytest's output, shown with or without -q."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import busybox_tar, cli, imported, root  # noqa: F401 - fixtures
from tests.integration.test_registry import registry, start_registry  # noqa: F401 - fixtures
from tests.stress import driver


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if driver.REPORT:
        terminalreporter.section("stress")
        for line in driver.REPORT:
            terminalreporter.write_line(line)
