"""``inspect``'s HostConfig has docker's shape (moby api/swagger.yaml ``HostConfig``): every key docker
always shows is there, with docker's value when unset (``null`` for an unset list)."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the engine's data root)")]


def host_config(cli, *create_args: str) -> dict:
    proc = cli("create", "--network", "none", *create_args, "busybox", "true")
    assert proc.returncode == 0, proc.stderr
    proc = cli("inspect", proc.stdout.strip())
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)[0]["HostConfig"]


def test_unset_host_config_keys_are_shown_as_docker_shows_them(cli, imported):
    """`SecurityOpt` was missing from inspect when unset and `Binds`, `CapAdd`, `CapDrop` were `[]`;
    docker shows all four as null (and `{{.HostConfig.SecurityOpt}}` must not fail)."""
    hc = host_config(cli)
    for key in ("Binds", "CapAdd", "CapDrop", "SecurityOpt", "VolumesFrom", "Links", "ExtraHosts", "GroupAdd",
                "PidsLimit"):
        assert key in hc and hc[key] is None, (key, hc.get(key, "missing"))
    assert hc["LogConfig"]["Type"] == "json-file" and isinstance(hc["LogConfig"]["Config"], dict)
    assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    for key, value in (("PortBindings", {}), ("Privileged", False), ("PublishAllPorts", False),
                       ("ReadonlyRootfs", False), ("AutoRemove", False), ("Memory", 0), ("MemorySwap", 0),
                       ("NanoCpus", 0), ("CpuShares", 0), ("CpuQuota", 0), ("CpuPeriod", 0), ("Dns", []),
                       ("DnsOptions", []), ("DnsSearch", []), ("ContainerIDFile", ""), ("VolumeDriver", "")):
        assert hc.get(key, "missing") == value, (key, hc.get(key, "missing"))
    assert "Init" not in hc  # docker leaves it out unless --init was given
    assert hc["NetworkMode"] == "none"
    proc = cli("inspect", "-f", "{{json .HostConfig.SecurityOpt}} {{json .HostConfig.CapAdd}}",
               cli("ps", "-aq").stdout.split()[0])
    assert (proc.returncode, proc.stdout.strip()) == (0, "null null"), proc.stderr


def test_set_host_config_keys_keep_their_values(cli, imported, tmp_path):
    """Values given on the command line are shown as given, next to docker's defaults for the rest."""
    hc = host_config(cli, "-v", f"{tmp_path}:/data", "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN",
                     "--security-opt", "no-new-privileges", "--init", "--memory", "64m", "--pids-limit", "50")
    assert hc["Binds"] == [f"{tmp_path}:/data"]
    assert hc["CapAdd"] == ["NET_ADMIN"] and hc["CapDrop"] == ["CHOWN"]
    assert hc["SecurityOpt"] == ["no-new-privileges"]
    assert hc["Init"] is True and hc["Memory"] == 64 << 20 and hc["PidsLimit"] == 50
    assert hc["Links"] is None and hc["Privileged"] is False
