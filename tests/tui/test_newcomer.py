"""A newcomer's first hour in the dashboard, against the real engine (root only): a way in with no hub,
80×24 that reads right, help, the filter, marks, times that move, graphs that tell the truth."""

from __future__ import annotations

import os
import re
from pathlib import Path

import psutil
import pytest
from engine_helpers import SIZE, run_sleeper, until
from textual.widgets import Label, Static

from engine.client import Docker
from tui.app import PortsideApp
from tui.screens.help import HelpScreen
from tui.screens.logs import LogsScreen
from tui.widgets.containers_pane import container_name
from tui.widgets.filter_bar import FilterBar
from tui.widgets.footer import KeyFooter
from tui.widgets.time_graph import BARS, TimeGraph

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run containers"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs /bin/busybox"),
]

SMALL = (80, 24)


def empty_text(pane: object) -> str:
    return str(pane.query_one(".empty", Static).content)  # type: ignore[attr-defined]


async def test_empty_states_offer_one_key_for_busybox(empty_root: str) -> None:
    """The empty panes suggested `run busybox` (no such image) and `import busybox.tar` (what is
    that?): they offer B, which makes busybox from the host's busybox-static with no network, and name
    the CLI command; the Images hint wraps inside its frame at 80×24."""
    app = PortsideApp(root=empty_root)
    async with app.run_test(size=SMALL) as pilot:
        await until(pilot, lambda: app.data_loaded)
        containers, images = app.containers_pane, app.images_pane
        await until(pilot, lambda: "press b" in empty_text(containers).lower())
        assert "portside image busybox" in empty_text(containers)
        await pilot.press("2")
        hint = images.query_one(".empty", Static)
        assert "press b" in empty_text(images).lower() and "portside image busybox" in empty_text(images)
        await pilot.pause(0.1)
        inside = images.content_region
        assert inside.contains_region(hint.content_region) and hint.content_region.width < inside.width
        assert hint.content_region.height * hint.content_region.width >= len(empty_text(images))

        await pilot.press("B")
        assert app.command_hint.command == "portside image busybox"
        await until(pilot, lambda: any("busybox:latest" in (i.get("RepoTags") or []) for i in images.all_images),
                    timeout=30)
        await pilot.press("1")
        await until(pilot, lambda: "press b" not in empty_text(containers).lower())
        assert "press n" in empty_text(containers)


async def test_help_scrolls_with_the_keys_at_once_and_names_themes(root: str) -> None:
    """`?` did not scroll with arrows/PageDown/End until Tab was pressed, and said nothing of themes."""
    app = PortsideApp(root=root)
    async with app.run_test(size=SMALL) as pilot:
        await until(pilot, lambda: app.data_loaded)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        scroll = app.screen.query_one("#help-scroll")
        assert "Themes" in " ".join(str(s.content) for s in app.screen.query(Static))
        assert scroll.max_scroll_y > 0
        await pilot.press("end")
        await until(pilot, lambda: scroll.scroll_y == scroll.max_scroll_y)
        await pilot.press("home")
        await until(pilot, lambda: scroll.scroll_y == 0)
        await pilot.press("down")
        await until(pilot, lambda: scroll.scroll_y == 1)
        await pilot.press("pagedown")
        await until(pilot, lambda: scroll.scroll_y > 1)


async def test_a_kept_filter_is_labelled_and_esc_clears_it(root: str) -> None:
    """After `/web` enter, esc in the list did nothing and nothing said the list was filtered."""
    web = await run_sleeper(root, "web")
    db = await run_sleeper(root, "db")
    app = PortsideApp(root=root)
    async with app.run_test(size=SMALL) as pilot:
        pane = app.containers_pane
        await until(pilot, lambda: {web, db} <= set(pane.table.row_keys))
        await pilot.press("slash", *"web", "enter")
        await until(pilot, lambda: pane.table.row_keys == [web])
        assert app.focused is pane.table
        bar = pane.query_one(FilterBar)
        assert bar.display and bar.region.height == 1
        assert str(bar.query_one(Label).content) == "filter:" and bar.value == "web"
        await pilot.press("escape")
        await until(pilot, lambda: set(pane.table.row_keys) == {web, db})
        assert not bar.display and pane.filter_text == ""


async def test_space_marks_without_moving(root: str) -> None:
    """Space marked the row and moved the cursor down: it only marks (j/k move)."""
    first = await run_sleeper(root, "first")
    second = await run_sleeper(root, "second")
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.containers_pane
        await until(pilot, lambda: {first, second} <= set(pane.table.row_keys))
        under = pane.table.selected_key
        await pilot.press("space")
        assert pane.marked == {under} and pane.table.selected_key == under
        await pilot.press("space")
        assert pane.marked == set() and pane.table.selected_key == under


async def test_image_times_move_on(root: str, busybox_tar: Path) -> None:
    """The Images pane's CREATED froze at "Less than a second ago" (rows were redrawn only when the
    images changed): the relative times refresh."""
    async with Docker(root=root) as docker:
        with open(busybox_tar, "rb") as f:
            await docker.images.import_image(f, repo="fresh")
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.data_loaded)
        await pilot.press("2")
        table = app.images_pane.table

        def created() -> str:
            key = next((k for k in table.row_keys if k.endswith("|fresh:latest")), None)
            return str(table.get_cell(key, "CREATED")) if key else ""
        await until(pilot, lambda: created().endswith("ago"))
        first = created()
        assert re.fullmatch(r"(Less than a second|\d+ seconds?) ago", first), first
        await until(pilot, lambda: created() not in ("", first), timeout=10)  # nothing changed but the time
        assert re.fullmatch(r"\d+ seconds? ago", created()), created()


async def test_columns_give_way_by_priority(root: str) -> None:
    """At 80 columns PORTS disappeared while ~18 columns stayed empty and names were cut; STATUS read
    `Exited (137) Less than a …` even at 140 columns. The ID and the memory limit give way first;
    names, status and ports stay whole where they fit."""
    async with Docker(root=root) as docker:
        web = await docker.containers.run(
            {"Image": "busybox", "Cmd": ["sleep", "30"], "ExposedPorts": {"8000/tcp": {}},
             "HostConfig": {"NetworkMode": "none"}}, name="a-web-server-name")
        killed = await docker.containers.run({"Image": "busybox", "Cmd": ["sleep", "30"],
                                              "HostConfig": {"NetworkMode": "none"}}, name="killed")
        await killed.kill()
    app = PortsideApp(root=root)
    async with app.run_test(size=SMALL) as pilot:
        pane = app.containers_pane
        await until(pilot, lambda: any(c["Status"].startswith("Exited (137)") for c in pane.all_containers))
        await pilot.pause(0.2)
        assert list(pane.widths) == ["NAME", "IMAGE", "STATUS", "PORTS", "CPU %", "MEM"]
        assert str(pane.table.get_cell(web.id, "NAME")).strip() == "a-web-server-name"
        assert str(pane.table.get_cell(web.id, "PORTS")) == "8000/tcp"
        used = sum(pane.widths.values()) + 2 * len(pane.widths)
        assert used <= pane.table.scrollable_content_region.width

        await pilot.resize_terminal(140, 40)
        await until(pilot, lambda: "ID" in pane.widths)
        await pilot.pause(0.2)
        assert list(pane.widths) == ["ID", "NAME", "IMAGE", "STATUS", "PORTS", "CPU %", "MEM / LIMIT"]
        killed_row = next(c for c in pane.all_containers if c["Id"] == killed.id)
        assert str(pane.table.get_cell(killed.id, "STATUS")) == "● " + killed_row["Status"]


async def test_footers_fit_at_80_columns(root: str) -> None:
    """Footers were cut at 80 columns (`q Qu▏` on the dashboard, `esc Bac▏` on the logs screen)."""
    await run_sleeper(root, "talker", ["sh", "-c", "echo hi; sleep 30"])
    app = PortsideApp(root=root)
    async with app.run_test(size=SMALL) as pilot:
        await until(pilot, lambda: app.containers_pane.table.row_keys)
        for _ in range(2):
            def fits() -> bool:  # once laid out (a refresh of the panes may re-draw the footer meanwhile)
                footer = app.screen.query_one(KeyFooter)
                keys = list(footer.query("FooterKey"))
                return bool(keys) and all(k.region.right <= footer.region.right and
                                          k.region.width >= len(k.description) + len(k.key_display) for k in keys)
            await until(pilot, fits, timeout=5)
            await pilot.press("l")
            await until(pilot, lambda: isinstance(app.screen, LogsScreen))


async def test_graphs_have_a_scale_and_draw_samples_at_their_time(root: str) -> None:
    """Each graph scaled itself (0.6 % CPU drew a nearly full bar), a 10-second-old container's few
    samples stretched over "last 5 minutes", two marked containers summed their limits past the host's
    memory, sizes were not the CLI's (`205kB / 25.3GB`), and the title said "1 processes"."""
    idle = await run_sleeper(root, "idle")
    other = await run_sleeper(root, "other")
    app = PortsideApp(root=root, refresh_interval=0.25)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.containers_pane
        await until(pilot, lambda: {idle, other} <= set(pane.table.row_keys))
        while pane.table.selected_key != idle:
            await pilot.press("j")
        await pilot.press("3")
        resources = app.resources_pane
        cpu = resources.query_one("#container-cpu TimeGraph", TimeGraph)
        await until(pilot, lambda: len(cpu.samples) >= 4)
        await pilot.pause(0.1)
        assert str(resources.query_one("#resources-title", Static).content) == "idle · 1 process"
        assert cpu.scale == 100.0  # one core, not the data's own peak
        drawn = cpu.column_values()
        assert all(v is None or v < 12.5 for v in drawn)  # an idle sleep: at most the lowest bar
        assert set(cpu.render().plain) <= {" ", BARS[0]}
        first = next(i for i, v in enumerate(drawn) if v is not None)
        assert first >= len(drawn) * 0.9, drawn  # seconds old: only the right edge of 5 minutes
        cpu_text = str(resources.query_one("#container-cpu .resources--value", Label).content)
        assert cpu_text.endswith("of 100 %")
        mem_text = str(resources.query_one("#container-mem .resources--value", Label).content)
        assert re.match(r"[\d.]+(B|KiB|MiB|GiB) / [\d.]+(B|KiB|MiB|GiB|TiB) \(", mem_text), mem_text
        mem_cell = str(pane.table.get_cell(idle, pane.table.column_names[-1]))
        assert re.search(r"[\d.]+(B|KiB|MiB|GiB)", mem_cell), mem_cell

        await pilot.press("1", "g", "space", "j", "space", "3")
        await until(pilot, lambda: "2 containers" in str(resources.query_one("#resources-title", Static).content))
        await pilot.pause(0.6)
        memory = resources.query_one("#container-mem TimeGraph", TimeGraph)
        assert 0 < memory.scale <= psutil.virtual_memory().total
        assert {container_name(c) for c in pane.targets} == {"idle", "other"}


async def test_the_cpu_graph_scales_to_the_cpu_limit(root: str) -> None:
    """With `--cpus 0.5` the CPU graph's full scale is the limit (50 %), not one core."""
    async with Docker(root=root) as docker:
        limited = await docker.containers.run({"Image": "busybox", "Cmd": ["sleep", "30"],
                                               "HostConfig": {"NanoCpus": 500_000_000, "NetworkMode": "none"}},
                                              name="limited")
    app = PortsideApp(root=root, refresh_interval=0.25)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.containers_pane
        await until(pilot, lambda: pane.table.selected_key == limited.id)
        await pilot.press("3")
        cpu = app.resources_pane.query_one("#container-cpu TimeGraph", TimeGraph)
        await until(pilot, lambda: cpu.scale == 50.0 and len(cpu.samples) >= 2)
        text = str(app.resources_pane.query_one("#container-cpu .resources--value", Label).content)
        assert text.endswith("of 50 % (limit)"), text
