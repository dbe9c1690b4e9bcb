"""The Services pane, the tasks screen and the service actions, against the scripted swarm manager
(tests/tui/fake_engine.py: docker's shapes), plus the rules under them without a terminal."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fake_engine import FakeTransport, host_point, services, task_containers, tasks
from textual.pilot import Pilot
from textual.widgets import Input

from engine.client import Docker
from tui.actions import ACTIONS
from tui.app import PortsideApp
from tui.screens.confirm import ConfirmScreen
from tui.screens.deploy_dialog import DeployScreen, problem
from tui.screens.logs import LogsScreen, split_service_line
from tui.screens.prompt import PromptScreen
from tui.screens.tasks import ReplicaGraphs, TasksScreen, current_state, replacements, task_rows
from tui.widgets.services_pane import (container_health, replicas_of, service_mode, service_name, service_ports,
                                       stack_of)

SIZE = (120, 40)
THEMES = ["portside-dark", "portside-light"]


def _by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["Id"]: c for c in rows}


# -- the rules -------------------------------------------------------------------------------------------
def test_replicas_count_ready_starting_and_missing() -> None:
    """web: 5 running, one still in its health check's start period: 4 ready, 1 starting, none missing;
    api: 2 of 3 running and one preparing: the bar shows it starting, not missing."""
    now = time.time()
    web, _redis, api, monitor = services()
    containers = _by_id(task_containers(now))
    r = replicas_of(web, tasks(now), containers)
    assert (r.running, r.desired, r.ready, r.starting, r.failing) == (5, 5, 4, 1, 0)
    r = replicas_of(api, tasks(now), containers)
    assert (r.running, r.desired, r.ready, r.starting, r.failing) == (2, 3, 2, 1, 0)
    r = replicas_of(api, [t for t in tasks(now) if t["Status"]["State"] != "preparing"], containers)
    assert r.failing == 1
    assert service_mode(monitor) == "global" and service_mode(web) == "replicated"


def test_health_from_a_list_row_or_an_inspect() -> None:
    assert container_health({"Status": "Up 3 minutes (healthy)"}) == "healthy"
    assert container_health({"Status": "Up 3 seconds (health: starting)"}) == "starting"
    assert container_health({"Status": "Up 1 minute (unhealthy)"}) == "unhealthy"
    assert container_health({"State": {"Status": "running", "Health": {"Status": "healthy"}}}) == "healthy"
    assert container_health({"Status": "Up 3 minutes"}) == "" and container_health(None) == ""


def test_ports_as_docker_service_ls_prints_them() -> None:
    web, redis, api, _monitor = services()
    assert service_ports(web) == "*:80->8000/tcp"
    assert service_ports(api) == "8080->8080/tcp"  # mode host: no "*:"
    assert service_ports(redis) == ""
    assert stack_of(web) == "getstartedlab" and stack_of(api) == ""


def test_task_rows_put_history_under_each_slot() -> None:
    now = time.time()
    web = services()[0]
    rows = [(t["Slot"], t["Status"]["State"], history) for t, history in task_rows(
        [t for t in tasks(now) if t["ServiceID"] == web["ID"]])]
    assert rows == [(1, "running", False), (2, "running", False), (3, "running", False), (3, "failed", True),
                    (4, "running", False), (5, "running", False)]


def test_the_event_line_says_who_died_and_how_fast_it_came_back() -> None:
    now = time.time()
    web = services()[0]
    events = replacements(web, [t for t in tasks(now) if t["ServiceID"] == web["ID"]])
    assert [text for _when, text in events] == [
        "getstartedlab_web.3 died (exit 137) → replaced by getstartedlab_web.3 in 1.0 s"]
    on_its_way = [t for t in tasks(now) if t["ServiceID"] == web["ID"]]
    for t in on_its_way:
        if t["Slot"] == 3 and t["Status"]["State"] == "running":
            t["Status"]["State"] = "starting"
    assert replacements(web, on_its_way)[-1][1] == "getstartedlab_web.3 died (exit 137), replacing… (starting)"
    assert current_state(on_its_way[0], now).startswith("Running 3 minutes ago")


def test_service_log_lines_give_their_task() -> None:
    when, attrs, text = split_service_line(
        "2026-01-01T10:00:00.000000001Z com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,"
        "com.docker.swarm.task.id=t1 GET / 200")
    assert (when, attrs["com.docker.swarm.task.id"], text) == ("2026-01-01T10:00:00.000000001Z", "t1", "GET / 200")
    assert split_service_line("plain words = here") == ("", {}, "plain words = here")


def test_the_deploy_form_names_what_is_wrong(tmp_path: Any) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services: {}\n")
    assert problem("", "app") == "the compose file is missing"
    assert problem(str(tmp_path / "nope.yml"), "app") == f"no such file: {tmp_path / 'nope.yml'}"
    assert problem(str(compose), "") == "the stack name is missing"
    assert "invalid stack name" in (problem(str(compose), "my stack") or "")
    assert problem(str(compose), "getstartedlab") is None


def test_every_services_action_is_remappable_and_in_the_palette() -> None:
    ids = {a.id for a in ACTIONS if a.scope == "services" and a.palette}
    assert {"deploy", "scale", "scale-up", "scale-down", "update-image", "rollback", "service-logs", "remove-stack",
            "swarm-init", "swarm-leave"} <= ids


# -- the pane and the screens ---------------------------------------------------------------------------
async def until(pilot: Pilot[None], predicate: Callable[[], bool]) -> None:
    for _ in range(500):
        if predicate():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"the dashboard never got there (screen {type(pilot.app.screen).__name__})")


def make_app(swarm: bool = True) -> tuple[PortsideApp, FakeTransport]:
    transport = FakeTransport(swarm=swarm)
    return PortsideApp(docker=Docker(transport=transport), refresh_interval=3600, host_probe=host_point), transport


async def services_shown(pilot: Pilot[None]) -> PortsideApp:
    app = pilot.app
    assert isinstance(app, PortsideApp)
    await until(pilot, lambda: app.data_loaded and app.services_loaded)
    await pilot.press("4")
    await until(pilot, lambda: app.services_pane.table.row_keys != [])
    return app


async def test_stacks_head_their_services() -> None:
    app, transport = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await services_shown(pilot)
        pane = app.services_pane
        names = [k if k.startswith("stack:") else service_name(next(s for s in pane.all_services if s["ID"] == k))
                 for k in pane.table.row_keys]
        assert names == ["stack:getstartedlab", "getstartedlab_redis", "getstartedlab_web", "api", "monitor"]
        assert app.command_hint.command == "portside service ls"
        # one list call each per refresh, never one per row
        assert transport.calls.count("GET /services") == transport.calls.count("GET /tasks")
        assert not [c for c in transport.calls if c.startswith("GET /services/") or c.startswith("GET /tasks/")]


async def test_not_a_manager_says_so_and_offers_swarm_init() -> None:
    app, transport = make_app(swarm=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.services_loaded)
        await pilot.press("4")
        pane = app.services_pane
        empty = str(pane.query_one(".empty").content)  # type: ignore[attr-defined]
        assert "not a swarm manager" in empty and "I" in empty and "portside swarm init" in empty
        assert "not a swarm manager" in str(pane.border_title)
        await pilot.press("I")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: bool(transport.changes))
        assert transport.changes[0][0] == "/swarm/init"
        # only the engine in this process hands swarm mode to a daemon: a socket's engine (here the
        # scripted one) is asked itself, and no daemon is started
        assert app.docker.transport is transport
        assert app.command_hint.command == "portside swarm init --advertise-addr 127.0.0.1"


async def test_enter_opens_the_tasks_with_history_graphs_and_the_event_line() -> None:
    """One stats stream per running replica while the screen shows; none once it closes."""
    app, _transport = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await services_shown(pilot)
        web = next(s for s in app.services_pane.all_services if service_name(s) == "getstartedlab_web")
        while app.services_pane.table.selected_key != web["ID"]:
            await pilot.press("j")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TasksScreen) and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, TasksScreen)
        assert app.command_hint.command == "portside service ps getstartedlab_web"
        assert screen.event_line == "getstartedlab_web.3 died (exit 137) → replaced by getstartedlab_web.3 in 1.0 s"
        await until(pilot, lambda: len(screen.query(ReplicaGraphs)) == 5 and len(screen.streams) == 5)
        table = screen.query_one("#tasks-table")
        history = [str(table.get_row(k)[0]) for k in table.row_keys  # type: ignore[attr-defined]
                   if str(table.get_row(k)[0]).startswith(" \\_")]  # type: ignore[attr-defined]
        assert history == [" \\_ getstartedlab_web.3"]
        column = table.column_names.index("HEALTH")  # type: ignore[attr-defined]
        health = {str(table.get_row(k)[0]): str(table.get_row(k)[column])  # type: ignore[attr-defined]
                  for k in table.row_keys}  # type: ignore[attr-defined]
        assert health["getstartedlab_web.4"] == "starting" and health["getstartedlab_web.5"] == "healthy"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TasksScreen))
        assert screen.streams == []
        assert not [w for w in screen.workers if w.group == "tasks-stats" and not w.is_finished]


async def test_scale_update_rollback_say_their_command_and_send_the_spec() -> None:
    app, transport = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await services_shown(pilot)
        web = next(s for s in app.services_pane.all_services if service_name(s) == "getstartedlab_web")
        while app.services_pane.table.selected_key != web["ID"]:
            await pilot.press("j")
        await pilot.press("plus")
        await until(pilot, lambda: len(transport.changes) == 1)
        path, query, body = transport.changes[-1]
        assert path == f"/services/{web['ID']}/update" and query["version"] == 12
        assert body["Mode"]["Replicated"]["Replicas"] == 6
        assert app.command_hint.command == "portside service scale getstartedlab_web=6"

        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        app.screen.query_one(Input).value = "7"
        await pilot.press("enter")
        await until(pilot, lambda: len(transport.changes) == 2)
        assert transport.changes[-1][2]["Mode"]["Replicated"]["Replicas"] == 7
        assert app.command_hint.command == "portside service scale getstartedlab_web=7"

        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        app.screen.query_one(Input).value = "tour-hello:v2"
        await pilot.press("enter")
        await until(pilot, lambda: len(transport.changes) == 3)
        assert transport.changes[-1][2]["TaskTemplate"]["ContainerSpec"]["Image"] == "tour-hello:v2"
        assert app.command_hint.command == "portside service update --image tour-hello:v2 getstartedlab_web"

        await pilot.press("R")
        await until(pilot, lambda: len(transport.changes) == 4)
        assert transport.changes[-1][1]["rollback"] == "previous"
        assert app.command_hint.command == "portside service rollback getstartedlab_web"


async def test_scaling_a_global_service_is_refused() -> None:
    app, transport = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await services_shown(pilot)
        monitor = next(s for s in app.services_pane.all_services if service_name(s) == "monitor")
        while app.services_pane.table.selected_key != monitor["ID"]:
            await pilot.press("j")
        await pilot.press("plus")
        await pilot.pause(0.1)
        assert not transport.changes
        assert any("replicated" in str(n.message) for n in app._notifications)


async def test_service_logs_merge_every_task_tagged() -> None:
    app, _transport = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await services_shown(pilot)
        web = next(s for s in app.services_pane.all_services if service_name(s) == "getstartedlab_web")
        while app.services_pane.table.selected_key != web["ID"]:
            await pilot.press("j")
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogsScreen) and len(app.screen.entries) == 5)
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        assert app.command_hint.command == "portside service logs -f getstartedlab_web"
        tags = {screen.containers[e.source][1] for e in screen.entries}
        assert tags == {f"getstartedlab_web.{slot}" for slot in range(1, 6)}


async def test_remove_stack_asks_first() -> None:
    app, _transport = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await services_shown(pilot)
        assert app.services_pane.selected_stack == "getstartedlab"
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "getstartedlab" in app.screen.question  # type: ignore[attr-defined]
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))


async def test_deploy_opens_its_dialog() -> None:
    app, _transport = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await services_shown(pilot)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeployScreen))
        await pilot.press("enter")  # nothing filled in: the form says what is missing and stays
        await pilot.pause(0.05)
        assert isinstance(app.screen, DeployScreen)
        assert "missing" in str(app.screen.query_one("#deploy-problem").content)  # type: ignore[attr-defined]


# -- drawing --------------------------------------------------------------------------------------------
async def pane_view(pilot: Pilot[None]) -> None:
    await services_shown(pilot)


async def tasks_view(pilot: Pilot[None]) -> None:
    app = await services_shown(pilot)
    await pilot.press("j", "j", "enter")
    await until(pilot, lambda: isinstance(app.screen, TasksScreen) and app.screen.loaded
                and len(app.screen.query(ReplicaGraphs)) == 5)
    screen = app.screen
    assert isinstance(screen, TasksScreen)
    await until(pilot, lambda: all(screen.history.latest(b.container_id) for b in screen.query(ReplicaGraphs)))
    await pilot.pause(0.1)


async def not_manager_view(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, PortsideApp)
    await until(pilot, lambda: app.services_loaded)
    await pilot.press("4")
    await pilot.pause(0.05)


VIEWS: dict[str, tuple[bool, Callable[[Pilot[None]], Awaitable[None]]]] = {
    "services": (True, pane_view), "tasks": (True, tasks_view), "not-manager": (False, not_manager_view),
}


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
@pytest.mark.parametrize("view", list(VIEWS))
def test_services_view(snap_compare: Callable[..., bool], view: str, size: tuple[int, int], theme: str,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTSIDE_TOUR_DIR", "/home/me/portside-tour")
    monkeypatch.setenv("PORTSIDE_CONFIG", "/tmp/portside-snapshots/config.yaml")
    swarm, run = VIEWS[view]
    app, _transport = make_app(swarm)

    async def run_before(pilot: Pilot[None]) -> None:
        pilot.app.theme = theme
        await run(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
