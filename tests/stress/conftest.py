"""The stress suite's seed and figures go at the end of pytest's output, shown with or without -q."""

from __future__ import annotations

from typing import Any

from tests.stress import driver


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if driver.REPORT:
        terminalreporter.section("stress")
        for line in driver.REPORT:
            terminalreporter.write_line(line)
