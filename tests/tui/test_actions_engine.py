"""Every dashboard action from the keyboard, against the real engine (root only)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from engine_helpers import SIZE, run_sleeper, state_of, toasts, until
from textual.command import CommandPalette
from textual.widgets import Button, Input, RichLog, Static, Tree

from engine.client import Docker
from tui.app import PortsideApp
from tui.screens.build_dialog import BuildScreen
from tui.screens.help import HelpScreen
from tui.screens.inspect import InspectScreen
from tui.screens.logs import LogsScreen
from tui.screens.prompt import PromptScreen
from tui.screens.run_dialog import RunScreen
from tui.widgets.containers_pane import container_name
from tui.widgets.resources_pane import ResourcesPane
from tui.widgets.time_graph import TimeGraph

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run containers"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs /bin/busybox"),
]


def screen_is(app: PortsideApp, kind: type) -> bool:
    return isinstance(app.screen, kind)


async def show(root: str, container_id: str) -> dict:
    async with Docker(root=root) as docker:
        return await docker.containers.container(container_id).show()


async def test_run_dialog_runs_a_container(root: str) -> None:
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.data_loaded)
        await pilot.press("n")
        await until(pilot, lambda: screen_is(app, RunScreen))
        dialog = app.screen
        dialog.query_one("#run-image", Input).value = "busybox"
        dialog.query_one("#run-name", Input).value = "web1"
        dialog.query_one("#run-command", Input).value = "sleep 30"
        dialog.query_one("#run-env", Input).value = "GREETING=hi, MODE=test"
        await pilot.press("enter")
        pane = app.containers_pane
        await until(pilot, lambda: any(container_name(c) == "web1" and c["State"] == "running"
                                       for c in pane.all_containers))
        assert app.command_hint.command == "portside run -d --name web1 -e GREETING=hi -e MODE=test busybox sleep 30"
        web1 = next(c for c in pane.all_containers if container_name(c) == "web1")
        info = await show(root, web1["Id"])
        assert "GREETING=hi" in info["Config"]["Env"] and info["Config"]["Cmd"] == ["sleep", "30"]


async def test_run_with_ports_says_what_happened_and_attached_run_opens_logs(root: str) -> None:
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.data_loaded)
        await pilot.press("n")
        await until(pilot, lambda: screen_is(app, RunScreen))
        dialog = app.screen
        dialog.query_one("#run-image", Input).value = "busybox"
        dialog.query_one("#run-command", Input).value = "sh -c 'echo hello-from-run; sleep 30'"
        dialog.query_one("#run-ports", Input).value = "18080:80"
        await pilot.click("#run-detach")
        await pilot.press("ctrl+s")
        # not detached: its logs open
        await until(pilot, lambda: screen_is(app, LogsScreen))
        logs = app.screen
        assert isinstance(logs, LogsScreen)
        await until(pilot, lambda: any("hello-from-run" in e.text for e in logs.entries))
        assert app.command_hint.command.startswith("portside run -p 18080:80 busybox sh -c")
        ports_ok = any("18080" in str(c.get("Ports")) for c in app.containers_pane.all_containers)
        assert ports_ok or any("not available" in t for t in toasts(app)), toasts(app)
        await pilot.press("escape")
        await until(pilot, lambda: not screen_is(app, LogsScreen))


async def test_start_stop_restart_kill(root: str) -> None:
    container_id = await run_sleeper(root)
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.containers_pane
        await until(pilot, lambda: container_id in pane.table.row_keys)
        short = container_id[:12]

        await pilot.press("K")
        await until(pilot, lambda: any(c["Id"] == container_id and c["State"] == "exited" for c in pane.containers))
        assert app.command_hint.command == f"portside kill {short}"

        await pilot.press("u")
        await until(pilot, lambda: any(c["Id"] == container_id and c["State"] == "running" for c in pane.containers))
        assert app.command_hint.command == f"portside start {short}"
        started = (await show(root, container_id))["State"]["StartedAt"]

        await pilot.press("r")
        assert app.command_hint.command == f"portside restart {short}"

        async def restarted() -> bool:
            state = (await show(root, container_id))["State"]
            return state["Status"] == "running" and state["StartedAt"] != started
        await until(pilot, restarted)

        await pilot.press("s")
        await until(pilot, lambda: any(c["Id"] == container_id and c["State"] == "exited" for c in pane.containers))
        assert app.command_hint.command == f"portside stop {short}"


async def test_logs_of_two_containers_merged_search_filter_toggles(root: str) -> None:
    script = "for i in 1 2 3; do echo $HOSTNAME-line-$i; done; echo only-in-{n}; sleep 30"
    first = await run_sleeper(root, "first", ["sh", "-c", script.format(n="first")])
    second = await run_sleeper(root, "second", ["sh", "-c", script.format(n="second")])
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.containers_pane
        await until(pilot, lambda: {first, second} <= set(pane.table.row_keys))
        await pilot.press("space", "j", "space")  # space marks, j moves
        assert pane.marked == {first, second}
        await pilot.press("l")
        await until(pilot, lambda: screen_is(app, LogsScreen))
        logs = app.screen
        assert isinstance(logs, LogsScreen) and logs.merged
        await until(pilot, lambda: {e.text for e in logs.entries} >= {"only-in-first", "only-in-second"})
        assert app.command_hint.command.count("portside logs -f") == 2
        view = logs.query_one(RichLog)
        rendered = "\n".join(strip.text for strip in view.lines)
        assert "first" in rendered and "second" in rendered and "│" in rendered  # each line tagged

        await pilot.press("slash")
        await pilot.press(*"line-2")
        await pilot.press("enter")
        assert logs.search == "line-2" and len(logs._match_rows) == 2
        await pilot.press("n", "N")
        assert not logs.follow  # jumping pauses following

        await pilot.press("ampersand")
        await pilot.press(*"only-in")
        await pilot.press("enter")
        assert logs.filter == "only-in"
        lines = [strip.text for strip in view.lines]
        assert len(lines) == 2 and all("only-in" in line for line in lines)

        await pilot.press("t", "w", "g")
        assert logs.timestamps and logs.wrap and not logs.follow
        assert view.lines[0].text[:2] == "20"  # 2026-… timestamps first
        await pilot.press("G")
        assert logs.follow
        await pilot.press("f")
        assert not logs.follow
        await pilot.press("escape")
        await until(pilot, lambda: not screen_is(app, LogsScreen))


async def test_inspect_is_a_searchable_tree(root: str) -> None:
    container_id = await run_sleeper(root, "inspected")
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: container_id in app.containers_pane.table.row_keys)
        await pilot.press("i")
        await until(pilot, lambda: screen_is(app, InspectScreen))
        screen = app.screen
        assert app.command_hint.command == f"portside inspect {container_id[:12]}"
        tree = screen.query_one(Tree)
        assert {str(c.label).split()[0].rstrip(":") for c in tree.root.children} >= {"Id", "State", "Config"}
        await pilot.press("slash", *"hostname")
        await pilot.press("enter")
        top = [str(c.label).split()[0].rstrip(":") for c in tree.root.children]
        assert sorted(top) == ["Config", "HostnamePath"]
        await pilot.press("escape")
        await until(pilot, lambda: not screen_is(app, InspectScreen))
        await pilot.press("2", "i")
        await until(pilot, lambda: screen_is(app, InspectScreen))
        assert app.command_hint.command == "portside image inspect busybox:latest"


async def test_shell_suspends_runs_portside_exec_and_returns(root: str) -> None:
    container_id = await run_sleeper(root)
    app = PortsideApp(root=root)
    ran: list[list[str]] = []

    def runner(command: list[str]) -> int:
        ran.append(command)
        # The real command needs a terminal (-it); run the same exec without one.
        assert command[-4:] == ["exec", "-it", container_id, "sh"]
        batch = command[:-3] + [container_id, "sh", "-c", "test -e /bin/busybox && exit 7"]
        return subprocess.run(batch, stdin=subprocess.DEVNULL, timeout=30).returncode

    app.shell_runner = runner
    app.suspend = contextlib.nullcontext  # type: ignore[method-assign]  # the headless driver cannot suspend
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: container_id in app.containers_pane.table.row_keys)
        await pilot.press("e")
        await until(pilot, lambda: any("exited (7)" in t for t in toasts(app)))
        assert len(ran) == 1 and app.is_running
        assert app.command_hint.command == f"portside exec -it {container_id[:12]} sh"


async def test_shell_without_a_terminal_says_how(root: str) -> None:
    container_id = await run_sleeper(root)
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: container_id in app.containers_pane.table.row_keys)
        await pilot.press("e")
        await until(pilot, lambda: any("cannot hand over" in t for t in toasts(app)))


async def test_build_dialog_streams_steps_and_tags(root: str, tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nRUN echo built > /built.txt\nCMD [\"cat\", \"/built.txt\"]\n")
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.data_loaded)
        await pilot.press("b")
        await until(pilot, lambda: screen_is(app, BuildScreen))
        dialog = app.screen
        assert isinstance(dialog, BuildScreen)
        dialog.query_one("#build-context", Input).value = str(context)
        dialog.query_one("#build-tag", Input).value = "built:1"
        await pilot.press("enter")
        await until(pilot, lambda: dialog.image_id is not None, timeout=60)
        text = "\n".join(dialog.log_lines)
        assert "Step 1/3 : FROM busybox" in text and "Step 2/3 : RUN echo built" in text
        await pilot.press("escape")
        await until(pilot, lambda: not screen_is(app, BuildScreen))
        assert app.command_hint.command == f"portside build -t built:1 {context}"
        await until(pilot, lambda: any("built:1" in (i.get("RepoTags") or []) for i in app.images_pane.all_images))


async def test_build_failure_shows_the_whole_error_with_the_buttons_at_80x24(root: str, tmp_path: Path) -> None:
    """At 80×24 the build dialog's status line and buttons were off-screen and the error cut at 68
    characters: the error is shown whole (wrapped) above the buttons, all on screen."""
    app = PortsideApp(root=root)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.data_loaded)
        await pilot.press("b")
        await until(pilot, lambda: screen_is(app, BuildScreen))
        dialog = app.screen
        missing = tmp_path / ("a-context-folder-with-a-long-name-" * 2) / "missing"
        dialog.query_one("#build-context", Input).value = str(missing)
        dialog.query_one("#build-tag", Input).value = "nope"
        await pilot.press("enter")
        status = dialog.query_one("#build-status", Static)
        await until(pilot, lambda: "Build failed" in str(status.content))
        await pilot.pause(0.1)
        error = str(status.content)
        assert str(missing) in error and len(error) > 100
        screen = dialog.region
        lines = status.region.height
        assert lines >= 2 and status.region.bottom <= screen.bottom
        assert lines * status.region.width >= len(error)  # room for every character, wrapped
        for button in dialog.query(Button):
            assert screen.contains_region(button.region) and button.region.y >= status.region.bottom
        assert app.is_running


async def test_tag_remove_and_prune_images(root: str, busybox_tar: Path) -> None:
    async with Docker(root=root) as docker:
        with open(busybox_tar, "rb") as f:
            dangling = await docker.images.import_image(f, message="dangling")
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        images = app.images_pane
        await until(pilot, lambda: app.data_loaded)
        await pilot.press("2")
        await until(pilot, lambda: len(images.table.row_keys) == 1)  # the dangling one is hidden
        await pilot.press("d")
        await until(pilot, lambda: len(images.table.row_keys) == 2)
        assert app.command_hint.command == "portside images"
        await pilot.press("d")

        await pilot.press("t")
        await until(pilot, lambda: screen_is(app, PromptScreen))
        await pilot.press(*"mybox:v1", "enter")
        await until(pilot, lambda: any("mybox:v1" in (i.get("RepoTags") or []) for i in images.all_images))
        assert app.command_hint.command == "portside tag busybox:latest mybox:v1"

        key = next(k for k in images.table.row_keys if k.endswith("|mybox:v1"))
        images.table.move_cursor(row=images.table.row_keys.index(key))
        await pilot.press("x")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("y")
        await until(pilot, lambda: not any("mybox:v1" in (i.get("RepoTags") or []) for i in images.all_images))
        assert app.command_hint.command == "portside rmi mybox:v1"

        await pilot.press("X")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("y")
        await until(pilot, lambda: all(i["Id"] != dangling and dangling not in i["Id"] for i in images.all_images)
                    and any("Pruned" in t for t in toasts(app)))
        assert app.command_hint.command == "portside image prune -f"


REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Debian's docker-registry on a free loopback port; yields ``127.0.0.1:port``."""
    if not os.access(REGISTRY, os.X_OK):
        pytest.skip("needs Debian's docker-registry")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    host = f"127.0.0.1:{port}"
    config = tmp_path / "registry.yml"
    config.write_text(json.dumps({"version": 0.1, "log": {"level": "warn"},
                                  "storage": {"filesystem": {"rootdirectory": str(tmp_path / "registry")}},
                                  "http": {"addr": host, "secret": "portside-tui-tests"}}))
    proc = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "docker-registry did not start"
                time.sleep(0.05)
        yield host
    finally:
        proc.kill()
        proc.wait(10)


async def test_push_then_pull_through_a_registry(root: str, registry: str) -> None:
    app = PortsideApp(root=root)
    ref = f"{registry}/bb:1"
    async with app.run_test(size=SIZE) as pilot:
        images = app.images_pane
        await until(pilot, lambda: app.data_loaded)
        await pilot.press("2", "t")
        await until(pilot, lambda: screen_is(app, PromptScreen))
        await pilot.press(*ref, "enter")
        await until(pilot, lambda: any(ref in (i.get("RepoTags") or []) for i in images.all_images))
        key = next(k for k in images.table.row_keys if k.endswith(f"|{ref}"))
        images.table.move_cursor(row=images.table.row_keys.index(key))
        await pilot.press("P")
        assert app.command_hint.command == f"portside push {ref}"
        await until(pilot, lambda: any(t.startswith(f"Pushed {ref}") for t in toasts(app)), timeout=60)

        async with Docker(root=root) as docker:
            await docker.images.delete(ref)
        await until(pilot, lambda: not any(ref in (i.get("RepoTags") or []) for i in images.all_images))
        await pilot.press("p")
        await until(pilot, lambda: screen_is(app, PromptScreen))
        await pilot.press(*ref, "enter")
        await until(pilot, lambda: any(ref in (i.get("RepoTags") or []) for i in images.all_images), timeout=60)
        assert app.command_hint.command == f"portside pull {ref}"


async def test_pull_failure_is_a_notification(root: str, registry: str) -> None:
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.data_loaded)
        await pilot.press("2", "p")
        await until(pilot, lambda: screen_is(app, PromptScreen))
        await pilot.press(*f"{registry}/missing:1", "enter")
        await until(pilot, lambda: any(n.severity == "error" for n in app._notifications), timeout=30)
        assert app.is_running


async def test_palette_lists_actions_runs_them_and_remembers_the_theme(root: str, private_config: Path) -> None:
    container_id = await run_sleeper(root)
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: container_id in app.containers_pane.table.row_keys)
        await pilot.press("colon")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"kill container")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: any(c["Id"] == container_id and c["State"] == "exited"
                                       for c in app.containers_pane.all_containers))
        assert app.command_hint.command == f"portside kill {container_id[:12]}"

        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"theme: portside-light")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: app.theme == "portside-light")
    assert yaml.safe_load(private_config.read_text())["theme"] == "portside-light"
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "portside-light"


async def test_help_and_a_remapped_key(root: str, private_config: Path) -> None:
    private_config.parent.mkdir(parents=True, exist_ok=True)
    private_config.write_text(yaml.safe_dump({"keymap": {"stop": "S"}, "refresh_interval": 0.5}))
    container_id = await run_sleeper(root)
    app = PortsideApp(root=root)
    assert app.refresh_interval == 0.5
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: container_id in app.containers_pane.table.row_keys)
        await pilot.press("question_mark")
        await until(pilot, lambda: screen_is(app, HelpScreen))
        await pilot.press("escape")
        await until(pilot, lambda: not screen_is(app, HelpScreen))
        await pilot.press("s")
        await pilot.pause(0.3)
        assert await state_of(root, container_id) == "running"
        await pilot.press("S")
        await until(pilot, lambda: any(c["Id"] == container_id and c["State"] == "exited"
                                       for c in app.containers_pane.all_containers))


async def test_filter_sort_and_vim_keys(root: str) -> None:
    alpha = await run_sleeper(root, "alpha")
    beta = await run_sleeper(root, "beta")
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.containers_pane
        await until(pilot, lambda: {alpha, beta} <= set(pane.table.row_keys))
        await pilot.press("slash", *"bet")
        await until(pilot, lambda: pane.table.row_keys == [beta])
        await pilot.press("enter")
        assert app.focused is pane.table
        await pilot.press("slash", "escape")
        await until(pilot, lambda: set(pane.table.row_keys) == {alpha, beta})

        await pilot.press("o", "o")  # ID, then NAME
        assert pane.sort_column == "NAME" and pane.table.row_keys == [alpha, beta]
        await pilot.press("O")
        assert pane.table.row_keys == [beta, alpha]
        await pilot.press("g")
        assert pane.table.cursor_row == 0
        await pilot.press("j")
        assert pane.table.cursor_row == 1
        await pilot.press("k")
        assert pane.table.cursor_row == 0
        await pilot.press("G")
        assert pane.table.cursor_row == 1
        await pilot.click("#containers-table", offset=(40, 0))  # a header click sorts too
        assert pane.sort_column is not None


async def test_live_resources_from_the_one_sampler(root: str) -> None:
    busy = await run_sleeper(root, "busy", ["sh", "-c", "while :; do :; done"])
    idle = await run_sleeper(root, "idle")
    app = PortsideApp(root=root, refresh_interval=0.25)
    try:
        async with app.run_test(size=SIZE) as pilot:
            pane = app.containers_pane
            await until(pilot, lambda: {busy, idle} <= set(pane.table.row_keys))
            await until(pilot, lambda: app.samples_taken >= 3)
            busy_point = app.history.latest(busy)
            assert busy_point is not None and busy_point.cpu > 20, busy_point
            assert app.history.latest(idle) is not None and app.history.latest("host") is not None
            await pilot.press("g", "space", "j", "space")  # mark both
            assert pane.marked == {busy, idle}
            await pilot.press("3")
            resources = app.query_one(ResourcesPane)
            await until(pilot, lambda: "2 containers" in str(resources.query_one("#resources-title").content))
            await until(pilot, lambda: len(resources.query_one("#container-cpu TimeGraph", TimeGraph).samples) >= 2)
            assert "one full core" in str(resources.query_one(".resources--note").content)
            assert app.command_hint.command.startswith("portside stats ")
            # the sampler runs in one worker group, not per container
            assert len([w for w in app.workers if w.group == "stats"]) <= 1
    finally:
        async with Docker(root=root) as docker:
            await docker.containers.container(busy).delete(force=True)


async def test_read_only_disables_everything_destructive(root: str) -> None:
    container_id = await run_sleeper(root)
    app = PortsideApp(root=root, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: container_id in app.containers_pane.table.row_keys)
        await pilot.press("n", "b", "u", "r", "K", "e", "x")
        await pilot.pause(0.2)
        assert sum("read-only" in t for t in toasts(app)) == 7
        await pilot.press("2", "t", "X")
        await pilot.pause(0.2)
        assert sum("read-only" in t for t in toasts(app)) == 9
        assert app.screen is app.screen_stack[0]
        assert await state_of(root, container_id) == "running"
