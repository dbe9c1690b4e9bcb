"""``volume ls`` and ``network ls`` with dockerd's filters (``GET /volumes`` ignored them all, ``GET
/networks`` accepted ``dangling`` and ``scope`` and ignored them)."""

from __future__ import annotations

import os

import pytest

from test_containers import ok

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (real containers)")]


def names(cli, *args: str) -> list[str]:
    return sorted(ok(cli(*args)).split())


def test_volume_ls_filters_as_dockerd(cli, imported):
    ok(cli("volume", "create", "free"))
    ok(cli("create", "--name", "holder", "--network", "none", "-v", "held:/h", "busybox", "true"))
    assert names(cli, "volume", "ls", "-q") == ["free", "held"]
    assert names(cli, "volume", "ls", "-q", "--filter", "dangling=true") == ["free"]
    assert names(cli, "volume", "ls", "-q", "-f", "dangling=0") == ["held"]
    assert names(cli, "volume", "ls", "-q", "-f", "name=^fr") == ["free"]
    assert names(cli, "volume", "ls", "-q", "-f", "name=e") == ["free", "held"]
    assert names(cli, "volume", "ls", "-q", "-f", "driver=local") == ["free", "held"]
    assert names(cli, "volume", "ls", "-q", "-f", "driver=other") == []
    assert names(cli, "volume", "ls", "-q", "-f", "label=nothing") == []
    for bad, said in (("bogus=1", "invalid filter 'bogus'"), ("dangling=maybe", "invalid filter 'dangling=maybe'")):
        p = cli("volume", "ls", "-f", bad)
        assert p.returncode != 0 and said in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    ok(cli("rm", "holder"))
    assert names(cli, "volume", "ls", "-q", "-f", "dangling=true") == ["free", "held"]


def test_network_ls_dangling_and_scope_filters(cli, imported):
    ok(cli("network", "create", "idle"))
    ok(cli("network", "create", "busy"))
    ok(cli("run", "-d", "--name", "member", "--network", "busy", "busybox", "sleep", "60"))
    listing = ("network", "ls", "--format", "{{.Name}}")
    assert names(cli, *listing, "-f", "dangling=true") == ["idle"]
    assert names(cli, *listing, "-f", "dangling=false") == ["bridge", "busy", "host", "none"]
    assert names(cli, *listing, "-f", "scope=local") == ["bridge", "busy", "host", "idle", "none"]
    assert names(cli, *listing, "-f", "scope=swarm") == []
    assert names(cli, *listing, "-f", "name=^b") == ["bridge", "busy"]
    p = cli("network", "ls", "-f", "dangling=sometimes")
    assert p.returncode != 0 and "invalid filter 'dangling=sometimes'" in p.stderr, p.stderr
    ok(cli("rm", "-f", "member"))
    assert names(cli, *listing, "-f", "dangling=true") == ["busy", "idle"]
