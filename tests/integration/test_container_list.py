"""``GET /containers/json`` builds its summaries from the containers' rows, not from inspect documents:
every entry must still say what ``GET /containers/{id}/json`` says of the same container (moby
api/swagger.yaml ``ContainerSummary``), for running, paused, exited and created containers, with
published and exposed ports, labels, volume and bind mounts, and a user-defined network."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from engine.api.routes import API
from engine.api.server import Request
from engine.engine import Engine
from engine.units import parse_rfc3339

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (real containers)")]


def ok(proc) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc.stdout.strip()


def api_get(root: str, target: str, method: str = "GET") -> tuple[int, Any]:
    """One request answered by the API's handlers in this process, as the embedded client makes it."""
    async def go() -> tuple[int, Any]:
        engine = Engine(root)
        try:
            resp = await API(engine).handle(Request(method, target, {}, b""))
            return resp.status, resp.data
        finally:
            engine.close()
    return asyncio.run(go())


def summary_ports(ports: dict[str, Any] | None) -> list[dict[str, Any]]:
    """inspect's ``NetworkSettings.Ports`` as a summary's ``Ports`` (one entry per binding)."""
    out = []
    for key, bindings in (ports or {}).items():
        port, _, proto = key.partition("/")
        if not bindings:
            out.append({"PrivatePort": int(port), "Type": proto})
        for b in bindings or ():
            out.append({"IP": b["HostIp"], "PrivatePort": int(port), "PublicPort": int(b["HostPort"]),
                        "Type": proto})
    return sorted(out, key=port_order)


def port_order(p: dict[str, Any]) -> tuple[int, str, int]:
    return p["PrivatePort"], p["Type"], p.get("PublicPort", 0)


def expected(doc: dict[str, Any]) -> dict[str, Any]:
    """The summary of a container as docker derives it from the container's inspect document
    (Status, a phrase of the current time, is checked on its own)."""
    return {
        "Id": doc["Id"], "Names": [doc["Name"]], "Image": doc["Config"]["Image"], "ImageID": doc["Image"],
        "Command": " ".join([doc["Path"], *doc["Args"]]), "Created": int(parse_rfc3339(doc["Created"])),
        "Ports": summary_ports(doc["NetworkSettings"]["Ports"]), "Labels": doc["Config"]["Labels"] or {},
        "State": doc["State"]["Status"], "HostConfig": {"NetworkMode": doc["HostConfig"]["NetworkMode"]},
        "NetworkSettings": {"Networks": doc["NetworkSettings"]["Networks"]}, "Mounts": doc["Mounts"],
    }


def test_list_entries_say_what_inspect_says(cli, imported, root, tmp_path):
    ok(cli("network", "create", "listnet"))
    ok(cli("volume", "create", "listvol"))
    web = ok(cli("run", "-d", "--name", "web", "-p", "127.0.0.1:0:80", "--expose", "90", "-l", "tier=front",
                 "-l", "team=a b", "-v", "listvol:/data", "-v", f"{tmp_path}:/host:ro", "busybox",
                 "sleep", "300"))
    netted = ok(cli("run", "-d", "--name", "netted", "--network", "listnet", "--network-alias", "db",
                    "busybox", "sleep", "300"))
    paused = ok(cli("run", "-d", "--name", "paused", "--network", "none", "busybox", "sleep", "300"))
    assert api_get(root, f"/containers/{paused}/pause", "POST")[0] == 204
    try:
        done = ok(cli("run", "-d", "--name", "done", "--network", "none", "-v", "/anon", "busybox", "sh", "-c",
                      "exit 3"))
        assert ok(cli("wait", done)) == "3"
        fresh = ok(cli("create", "--name", "fresh", "--network", "none", "-l", "only=created", "busybox",
                       "echo", "hi", "there"))

        status, entries = api_get(root, "/containers/json?all=1")
        assert status == 200
        by_id = {e["Id"]: e for e in entries}
        assert list(by_id) == [fresh, done, paused, netted, web]  # newest first
        for cid, state, status_prefix in ((web, "running", "Up "), (netted, "running", "Up "),
                                          (paused, "paused", "Up "), (done, "exited", "Exited (3) "),
                                          (fresh, "created", "Created")):
            entry = dict(by_id[cid])
            status, inspected = api_get(root, f"/containers/{cid}/json")
            assert status == 200
            assert entry.pop("Status").startswith(status_prefix), (cid, state)
            entry["Ports"] = sorted(entry["Ports"], key=port_order)
            assert entry == expected(inspected), state
            assert entry["State"] == state
        assert by_id[paused]["Status"].endswith(" (Paused)")

        # what the cases above are made of is really there
        web_entry = by_id[web]
        assert {(p["PrivatePort"], "PublicPort" in p) for p in web_entry["Ports"]} == {(80, True), (90, False)}
        assert web_entry["Labels"] == {"tier": "front", "team": "a b"}
        assert {m["Type"] for m in web_entry["Mounts"]} == {"volume", "bind"}
        assert "listnet" in by_id[netted]["NetworkSettings"]["Networks"]
        assert by_id[done]["Mounts"] and "Anonymous" not in by_id[done]["Mounts"][0]
        assert by_id[fresh]["Command"] == "echo hi there"

        # without all=1: the running and the paused ones; filters still see the row's fields and the state
        status, running = api_get(root, "/containers/json")
        assert [e["Id"] for e in running] == [paused, netted, web]
        _, exited = api_get(root, '/containers/json?all=1&filters={"exited":["3"]}')
        assert [e["Id"] for e in exited] == [done]
        _, labelled = api_get(root, '/containers/json?all=1&filters={"label":["tier=front"]}')
        assert [e["Id"] for e in labelled] == [web]
        _, by_volume = api_get(root, '/containers/json?all=1&filters={"volume":["listvol"]}')
        assert [e["Id"] for e in by_volume] == [web]
        _, sized = api_get(root, "/containers/json?all=1&size=1&limit=2")
        assert [e["Id"] for e in sized] == [fresh, done] and all(isinstance(e["SizeRw"], int) for e in sized)
    finally:  # a frozen container is thawed before the teardown removes it
        assert api_get(root, f"/containers/{paused}/unpause", "POST")[0] == 204
