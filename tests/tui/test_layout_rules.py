"""The rules under the layouts, without a terminal: column priorities and the graphs' scale and time."""

from __future__ import annotations

from tui.stats import Point
from tui.widgets.columns import CELL_PADDING, plan_columns
from tui.widgets.containers_pane import COLUMNS, format_ports
from tui.widgets.resources_pane import _sum, cpu_scale, processes
from tui.widgets.time_graph import BARS, bar, cells

NATURAL = {"ID": 12, "NAME": 17, "IMAGE": 10, "STATUS": 37, "PORTS": 22, "CPU %": 5, "MEM / LIMIT": 11, "MEM": 3}


def used(widths: dict[str, int]) -> int:
    return sum(widths.values()) + CELL_PADDING * len(widths)


def test_columns_give_way_least_important_first() -> None:
    """The ID goes first, then the memory limit, then PORTS, then IMAGE; name and status never."""
    shown = [list(plan_columns(COLUMNS, NATURAL, width)) for width in (200, 120, 100, 76, 56, 40)]
    assert shown[0] == ["ID", "NAME", "IMAGE", "STATUS", "PORTS", "CPU %", "MEM / LIMIT"]
    assert all("NAME" in s and "STATUS" in s and "CPU %" in s for s in shown)
    order = ["ID", "MEM / LIMIT", "PORTS", "IMAGE"]
    for wider, narrower in zip(shown, shown[1:]):
        gone = [c for c in wider if c not in narrower and c != "MEM"]
        assert all(order.index(g) <= min((order.index(c) for c in narrower if c in order), default=9) for g in gone)
    for width in (200, 120, 100, 76, 56):
        assert used(plan_columns(COLUMNS, NATURAL, width)) <= width


def test_at_140_columns_the_status_is_whole() -> None:
    """`Exited (137) Less than a …` even at 140 columns."""
    assert plan_columns(COLUMNS, NATURAL, 136)["STATUS"] == NATURAL["STATUS"]


def test_a_small_value_draws_a_small_bar() -> None:
    """0.6 % CPU drew a nearly full bar (the graph scaled itself to its own peak)."""
    assert bar(0.6, cpu_scale(0.6)) == BARS[0] and bar(100, 100) == BARS[-1] and bar(50, 100) == BARS[3]
    assert cpu_scale(0.6) == 100 and cpu_scale(150) == 200


def test_samples_land_at_their_time() -> None:
    """Ten seconds of samples filled the whole "last 5 minutes"."""
    now = 1000.0
    drawn = cells([(now - 9 + i, 1.0) for i in range(10)], now, 300.0, 60)
    assert all(v is None for v in drawn[:-2]) and drawn[-1] == 1.0


def test_summed_memory_limit_stops_at_the_host() -> None:
    """Two marked containers without a limit summed to twice the host's memory."""
    host = Point(0.0, mem_limit=23 * 2**30)
    both = _sum([Point(0.0, mem=2**20, mem_limit=host.mem_limit), Point(0.0, mem=2**20, mem_limit=host.mem_limit)],
                host)
    assert both.mem_limit == host.mem_limit and both.mem == 2 * 2**20
    assert processes(1) == "1 process" and processes(2) == "2 processes"


def test_narrow_ports_drop_the_any_address() -> None:
    container = {"Ports": [{"IP": "0.0.0.0", "PrivatePort": 8000, "PublicPort": 8080, "Type": "tcp"}]}
    assert format_ports(container) == "0.0.0.0:8080->8000/tcp"
    assert format_ports(container, short=True) == "8080->8000/tcp"


def test_the_memory_limit_goes_before_image_or_ports_are_cut() -> None:
    """The tour's container at 80 columns kept `596KiB / 23.5GiB` and showed `tour-he…` and
    `18089->80…`."""
    natural = {"ID": 12, "NAME": 10, "IMAGE": 10, "STATUS": 14, "PORTS": 22, "CPU %": 5, "MEM / LIMIT": 11, "MEM": 3}
    widths = plan_columns(COLUMNS, natural, 76)
    assert list(widths) == ["NAME", "IMAGE", "STATUS", "PORTS", "CPU %", "MEM"]
    assert widths["IMAGE"] == 10 and widths["PORTS"] >= len("18089->8000/tcp")
