"""Crash debris and recovery: what a kill -9 leaves, what the next command cleans, and ``system check``.

Real parts throughout: real builds, loads and containers as root, killed with SIGKILL at the moment
that leaves the most behind; then an ordinary command, and a look at the mounts, temp files,
processes and cgroups on the host.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, mounts, cgroups)")]


# -- helpers ----------------------------------------------------------------------------------------
def mounts_under(path: str) -> list[str]:
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path + "/")]


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc.stdout


def wait_until(pred, timeout: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def proc_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def state_of(root: str, cid: str) -> dict:
    with open(os.path.join(root, "containers", cid, "state.json")) as f:
        return json.load(f)


def cli_proc(root: str, *args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PORTSIDE_ROOT=root)
    env.pop("DOCKER_HOST", None)
    return subprocess.Popen([sys.executable, "-m", "tui.cli", *args], env=env, cwd=REPO, **kw)


def debris(root: str) -> list[str]:
    """Temp files and dirs operations leave: <root>/tmp/*, layers/.tmp-*, blobs/sha256/.tmp-*."""
    found = [os.path.join("tmp", n) for n in os.listdir(os.path.join(root, "tmp"))]
    found += [os.path.join("layers", n) for n in os.listdir(os.path.join(root, "layers")) if n.startswith(".tmp")]
    blobs = os.path.join(root, "images", "blobs", "sha256")
    found += [os.path.join("blobs", n) for n in os.listdir(blobs) if n.startswith(".tmp")]
    return found


def check_lines(cli, *flags: str) -> tuple[int, list[str]]:
    proc = cli("system", "check", *flags)
    return proc.returncode, [line for line in proc.stdout.splitlines() if line.strip()]


def processes(argv: list[str]) -> list[int]:
    """Pids running exactly ``argv`` (the RUN step's process; its odd duration keeps it ours)."""
    want = ("\0".join(argv) + "\0").encode()
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if f.read() == want:
                        found.append(int(name))
            except OSError:
                pass
    return found


def cgroup_exists(cid: str) -> bool:
    return any(os.path.isdir(os.path.join("/sys/fs/cgroup", c, "portside", cid))
               for c in ("", "memory", "pids", "cpu")) or os.path.isdir(f"/sys/fs/cgroup/portside/{cid}")


def build_cgroups_of(pid: int) -> list[str]:
    """The cgroup dirs (every v1 hierarchy, or the v2 one) of a RUN step's process: portside/build-<id>."""
    out = []
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.strip().split(":", 2)
            if "/portside/build-" not in path:
                continue
            for ctrl in (ctrls.split(",") if ctrls else [""]):
                d = os.path.join("/sys/fs/cgroup", ctrl, path.lstrip("/"))
                if os.path.isdir(d) and d not in out:
                    out.append(d)
    return out


# -- 1. a build, a load killed -9 ----------------------------------------------------------------------
def test_build_killed_during_run_leaves_nothing_after_next_command(cli, imported, root, tmp_path):
    """kill -9 of `build` during RUN left its overlay mount, tmp/run-* (and view-*, copy-*) and the RUN
    process itself running; nothing cleaned them, not even `system prune -a`."""
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY f /f\nRUN sleep 317\n")
    (tmp_path / "f").write_text("x" * 1000)
    before = set(processes(["sleep", "317"]))
    build = cli_proc(root, "build", "-t", "slow", str(tmp_path), stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: any(n.startswith("run-") for n in os.listdir(os.path.join(root, "tmp")))
                   and mounts_under(os.path.join(root, "tmp")), timeout=30)
        pids = wait_until(lambda: [p for p in processes(["sleep", "317"]) if p not in before], timeout=10)
        assert check_lines(cli) == (0, [])  # a running build's mount, temp dirs and cgroup are its own
    finally:
        build.kill()
        build.wait()
    assert debris(root) and mounts_under(root) and all(proc_alive(p) for p in pids)
    groups = build_cgroups_of(pids[0])
    assert groups and all(os.path.isdir(g) for g in groups), groups
    ok(cli("ps"))
    assert mounts_under(root) == []
    assert debris(root) == []
    wait_until(lambda: not any(proc_alive(p) for p in pids), timeout=5)
    assert [g for g in groups if os.path.isdir(g)] == []  # the RUN step's cgroup went with its process
    assert os.listdir(os.path.join(root, "ops")) == []  # and no record of the dead build is left
    events = ok(cli("events", "--since", "1m", "--until", "0s", "--filter", "type=system"))
    assert "system cleanup" in events, events
    assert check_lines(cli) == (0, [])


def test_blob_write_killed_leaves_no_temp_blob(cli, root, busybox_tar):
    """kill -9 of a command while it wrote a blob (pull, load, import: one blob store) left
    images/blobs/sha256/.tmp-* behind (370 MB after 9 kills). `import -` from a pipe we hold open stops
    inside the blob deterministically."""
    with open(busybox_tar, "rb") as f:
        data = f.read()
    proc = cli_proc(root, "import", "-", "half", stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
    blobs = os.path.join(root, "images", "blobs", "sha256")
    try:
        proc.stdin.write(data[: len(data) - 4096])
        proc.stdin.flush()
        wait_until(lambda: [n for n in os.listdir(blobs) if n.startswith(".tmp")], timeout=20)
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
    assert [d for d in debris(root) if d.startswith("blobs/")]
    ok(cli("images"))
    assert debris(root) == []
    assert check_lines(cli) == (0, [])


def test_volume_rm_killed_half_way_leaves_nothing(cli, root):
    """kill -9 of `volume rm` while it deleted a big volume left `volumes/.removing-*` that nothing swept
    ("folder has no volume" in system check). The folder being deleted carries its owner's tag now, so
    the next command removes what is left."""
    ok(cli("volume", "create", "big"))
    vdir = os.path.join(root, "volumes", "big")
    for i in range(200):
        sub = os.path.join(vdir, f"d{i}")
        os.mkdir(sub)
        for j in range(100):
            open(os.path.join(sub, f"f{j}"), "w").close()
    tmp = os.path.join(root, "tmp")
    proc = cli_proc(root, "volume", "rm", "big", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: [n for n in os.listdir(tmp) if n.startswith("volrm-")], timeout=20, interval=0.002)
    finally:
        proc.kill()
        proc.wait()
    listed = ok(cli("volume", "ls", "-q")).split()
    assert debris(root) == []
    left = [n for n in os.listdir(os.path.join(root, "volumes")) if n != "metadata.db"]
    assert left == (["big"] if "big" in listed else [])  # removed, or put back whole if it never committed
    assert check_lines(cli) == (0, [])


def test_volume_moved_aside_by_a_killed_rm_before_its_row_went_is_put_back(cli, root):
    """A `volume rm` killed after moving the folder aside but before its transaction committed: the row
    is still there, so recovery puts the folder back instead of deleting the data."""
    ok(cli("volume", "create", "keep"))
    vdir = os.path.join(root, "volumes", "keep")
    with open(os.path.join(vdir, "data"), "w") as f:
        f.write("precious")
    dead = "1.1"  # pid 1 never started at tick 1: an owner that is gone
    os.makedirs(os.path.join(root, "ops"), exist_ok=True)
    open(os.path.join(root, "ops", dead), "w").close()
    os.rename(vdir, os.path.join(root, "tmp", f"volrm-{dead}-abcd1234-keep"))
    ok(cli("volume", "ls"))
    with open(os.path.join(vdir, "data")) as f:
        assert f.read() == "precious"
    assert debris(root) == []
    assert check_lines(cli) == (0, [])


# -- 2. a container's monitor killed -9 ------------------------------------------------------------------
RUNTIMES = ["native", pytest.param("runc", marks=pytest.mark.skipif(not os.path.exists("/usr/sbin/runc"),
                                                                      reason="runc is not installed"))]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_killed_monitor_container_exits_and_releases_everything(cli, imported, root, runtime):
    """kill -9 of a container's monitor: the container showed "Up" forever, its output was dropped and its
    mount and cgroup stayed. As docker does when it loses a shim: killed, Exited (137), resources freed."""
    cid = ok(cli("run", "-d", "--runtime", runtime, "busybox", "sleep", "300")).strip()
    st = state_of(root, cid)
    veth = f"ps{cid[:10]}0"
    assert os.path.exists(f"/sys/class/net/{veth}")
    os.kill(st["monitor_pid"], signal.SIGKILL)
    wait_until(lambda: not proc_alive(st["monitor_pid"]), timeout=5)
    line = ok(cli("ps", "-a")).splitlines()[1]
    assert "Exited (137)" in line, line
    assert not proc_alive(st["pid"])
    assert ok(cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", cid)).split() == ["exited", "137"]
    assert "monitor" in ok(cli("inspect", "-f", "{{.State.Error}}", cid))
    assert mounts_under(root) == []
    assert not cgroup_exists(cid)
    wait_until(lambda: not os.path.exists(f"/sys/class/net/{veth}"), timeout=5)
    assert check_lines(cli) == (0, [])
    ok(cli("start", cid))  # and it can run again
    assert ok(cli("inspect", "-f", "{{.State.Status}}", cid)).strip() == "running"


def test_killed_monitor_restart_always_runs_again_with_output(cli, imported, root):
    """A killed monitor no longer ran the restart policy: --restart always now starts the container again,
    and its output is logged again."""
    cid = ok(cli("run", "-d", "--network", "none", "--restart", "always", "busybox", "sh", "-c",
                 "echo started; sleep 300")).strip()
    wait_until(lambda: "started" in cli("logs", cid).stdout, timeout=10)
    st = state_of(root, cid)
    os.kill(st["monitor_pid"], signal.SIGKILL)
    wait_until(lambda: not proc_alive(st["monitor_pid"]), timeout=5)
    line = ok(cli("ps")).splitlines()[1]
    assert "Up " in line, line
    new = state_of(root, cid)
    assert new["monitor_pid"] != st["monitor_pid"] and proc_alive(new["monitor_pid"])
    assert new["pid"] != st["pid"] and not proc_alive(st["pid"])
    wait_until(lambda: cli("logs", cid).stdout.count("started") == 2, timeout=10)
    assert ok(cli("inspect", "-f", "{{.RestartCount}}", cid)).strip() == "1"


def test_killed_monitor_of_on_failure_and_no_policy(cli, imported, root):
    """on-failure restarts after a lost monitor (137 is a failure); the default policy leaves it exited."""
    on_failure = ok(cli("run", "-d", "--network", "none", "--restart", "on-failure:3", "busybox", "sleep",
                        "300")).strip()
    plain = ok(cli("run", "-d", "--network", "none", "busybox", "sleep", "300")).strip()
    for cid in (on_failure, plain):
        os.kill(state_of(root, cid)["monitor_pid"], signal.SIGKILL)
    for cid in (on_failure, plain):
        wait_until(lambda c=cid: not proc_alive(state_of(root, c)["monitor_pid"]) or
                   state_of(root, c)["monitor_pid"] == 0, timeout=5)
    ok(cli("ps"))
    fmt = "{{.State.Status}}"
    assert ok(cli("inspect", "-f", fmt, on_failure)).strip() == "running"
    assert ok(cli("inspect", "-f", fmt, plain)).strip() == "exited"


# -- 3. system check --------------------------------------------------------------------------------
def test_system_check_finds_and_repairs_each_inconsistency(cli, imported, root):
    """`system check` names each hand-made inconsistency on its own line, exits 1, and `--repair` fixes
    them all (exit 0, then a clean check)."""
    assert check_lines(cli) == (0, [])
    ok(cli("tag", "busybox", "other:1"))
    second = ok(cli("import", "-", "second", input=make_tar({"a": b"a"}))).strip()
    third = ok(cli("import", "-", "third", input=make_tar({"b": b"b"}))).strip()
    blobs = os.path.join(root, "images", "blobs", "sha256")
    # a deleted layer blob, a corrupt layer blob, a dangling tag
    layer2 = layer_of(blobs, second)
    os.unlink(os.path.join(blobs, layer2[7:]))
    layer3 = layer_of(blobs, third)
    with open(os.path.join(blobs, layer3[7:]), "ab") as f:
        f.write(b"garbage")
    # a duplicate address row for a container on the default bridge
    cid = ok(cli("create", "busybox", "true")).strip()
    db = sqlite3.connect(os.path.join(root, "state.db"))
    db.execute("INSERT INTO tags VALUES ('docker.io/library/ghost:latest', 'sha256:" + "0" * 64 + "')")
    net, addr = db.execute("SELECT network_id, address FROM ip_allocations WHERE container_id=?", (cid,)).fetchone()
    spare = addr.rsplit(".", 1)[0] + ".250"
    db.execute("INSERT INTO ip_allocations VALUES (?, ?, ?)", (net, spare, cid))
    db.commit()
    # and a container whose address row is gone (the pool would hand its address out again)
    lost = ok(cli("create", "busybox", "true")).strip()
    lost_addr = db.execute("SELECT address FROM ip_allocations WHERE container_id=?", (lost,)).fetchone()[0]
    db.execute("DELETE FROM ip_allocations WHERE container_id=?", (lost,))
    db.commit()
    db.close()
    # a stray temp dir with a mount on it, and a stray temp blob
    stray = os.path.join(root, "tmp", "view-stray")
    os.makedirs(stray)
    subprocess.run(["mount", "-t", "tmpfs", "none", stray], check=True)
    with open(os.path.join(blobs, ".tmp-leftover"), "wb") as f:
        f.write(b"half a blob")
    code, lines = check_lines(cli)
    assert code == 1, lines
    text = "\n".join(lines)
    for kind, obj, problem in [("blob", layer3, "does not match"), ("image", second, "is missing"),
                               ("image", third, "is missing"), ("tag", "ghost", "missing image"),
                               ("ip", spare, "duplicates"), ("ip", lost_addr, "not allocated"),
                               ("mount", stray, "no running operation"),
                               ("temp", stray, "no running operation"), ("temp", ".tmp-leftover", "no running")]:
        assert any(line.startswith(kind + "  ") and obj in line and problem in line for line in lines), \
            (kind, obj, text)
    assert all(len(line.split("  ")) == 3 for line in lines), text
    code, lines = check_lines(cli, "--repair")
    assert code == 0 and lines and all(line.endswith("  repaired") for line in lines), lines
    assert check_lines(cli) == (0, [])
    assert mounts_under(root) == []
    images = ok(cli("images", "--format", "{{.Repository}}")).split()
    assert sorted(images) == ["busybox", "other"]
    assert ok(cli("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", lost)).strip() \
        == lost_addr
    third_container = ok(cli("create", "busybox", "true")).strip()
    assert lost_addr not in ok(cli("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                                   third_container))
    ok(cli("run", "--rm", "--network", "none", "busybox", "true"))


def test_system_check_client_function(root, imported):
    """The engine/client function the stress suite calls: a list of finding dicts, empty when clean."""
    from engine.client import Docker
    import asyncio

    async def go() -> tuple[list, list]:
        async with Docker(root=root) as docker:
            clean = await docker.system.check()
            os.makedirs(os.path.join(root, "tmp", "copy-orphan"))
            found = await docker.system.check()
            return clean, found
    clean, found = asyncio.run(go())
    assert clean == []
    assert found == [{"kind": "temp", "object": os.path.join(root, "tmp", "copy-orphan"),
                      "problem": "belongs to no running operation", "repaired": False}]


def layer_of(blobs: str, image_id: str) -> str:
    with open(os.path.join(blobs, image_id[7:])) as f:
        return json.load(f)["rootfs"]["diff_ids"][0]


def make_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# -- 4. prune: volumes, and what a running build holds ---------------------------------------------------
def anonymous_volume(cli) -> str:
    """An anonymous volume left by a removed container (``rm`` without ``-v`` keeps it, as docker does)."""
    cid = ok(cli("create", "--network", "none", "-v", "/data", "busybox", "true")).strip()
    name = ok(cli("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", cid)).strip()
    ok(cli("rm", cid))
    assert name in ok(cli("volume", "ls", "-q")).split()
    return name


def test_volume_prune_removes_unused_anonymous_volumes(cli, imported):
    """`volume prune` did not exist. As docker 23+: unused anonymous volumes go; -a also named ones;
    volumes a container uses stay; "Deleted Volumes:" then "Total reclaimed space"."""
    anon = anonymous_volume(cli)
    ok(cli("volume", "create", "named"))
    ok(cli("volume", "create", "kept"))
    user = ok(cli("create", "--network", "none", "-v", "kept:/k", "busybox", "true")).strip()
    text = ok(cli("volume", "prune", "-f"))
    assert text.startswith(f"Deleted Volumes:\n{anon}\n\nTotal reclaimed space: "), text
    assert sorted(ok(cli("volume", "ls", "-q")).split()) == ["kept", "named"]
    assert cli("volume", "prune", input="n\n").stdout.startswith(
        "WARNING! This will remove anonymous local volumes not used by at least one container.")
    text = ok(cli("volume", "prune", "-a", "-f"))
    assert text.splitlines()[:2] == ["Deleted Volumes:", "named"], text
    assert ok(cli("volume", "ls", "-q")).split() == ["kept"]
    ok(cli("rm", user))
    assert ok(cli("volume", "prune", "-f", "--filter", "label=nothing")).startswith("Total reclaimed space: 0B")
    assert ok(cli("volume", "ls", "-q")).split() == ["kept"]


def test_system_prune_volumes_removes_anonymous_volumes(cli, imported):
    """`system prune --volumes` removed no anonymous volume."""
    anon = anonymous_volume(cli)
    ok(cli("volume", "create", "named"))
    ok(cli("system", "prune", "-f"))
    assert anon in ok(cli("volume", "ls", "-q")).split()
    text = ok(cli("system", "prune", "-f", "--volumes"))
    assert f"Deleted Volumes:\n{anon}\n" in text, text
    assert ok(cli("volume", "ls", "-q")).split() == ["named"]


def test_prune_all_during_build_keeps_the_builds_blobs(cli, imported, root, tmp_path):
    """`system prune -a` during a build deleted the build's base and step images and their blobs: the
    build failed and left orphan blobs. A running build's images and blobs are protected now."""
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY f /f\nRUN sleep 1.5 && echo ran > /x\n")
    (tmp_path / "f").write_text("payload")
    build = cli_proc(root, "build", "-t", "held", str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     text=True)
    try:
        wait_until(lambda: processes(["sleep", "1.5"]) or build.poll() is not None, timeout=30)
        ok(cli("system", "prune", "-a", "-f"))
        output, _ = build.communicate(timeout=60)
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()
    assert build.returncode == 0, output
    assert ok(cli("run", "--rm", "--network", "none", "held", "cat", "/f", "/x")) == "payloadran\n"
    assert check_lines(cli) == (0, [])


def test_image_prune_removes_blobs_no_image_uses(cli, imported, root):
    """Blobs nothing refers to (a failed build's, an interrupted pull's) stayed for ever: prune only
    collected garbage after it deleted an image."""
    blobs = os.path.join(root, "images", "blobs", "sha256")
    import hashlib
    data = b"an orphan" * 1000
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    assert check_lines(cli) == (1, [f"blob  sha256:{digest}  is used by no image"])
    text = ok(cli("image", "prune", "-f"))
    assert not os.path.exists(os.path.join(blobs, digest))
    assert text.strip() == "Total reclaimed space: 9kB", text
    assert check_lines(cli) == (0, [])
    assert ok(cli("run", "--rm", "--network", "none", "busybox", "true")) == ""


# -- 5. load: layers with broken hardlinks ----------------------------------------------------------
def layer_tar(entries: list[tuple[str, str, bytes | str]]) -> bytes:
    """A layer: ("file", name, data) / ("link", name, target) entries, in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for kind, name, value in entries:
            info = tarfile.TarInfo(name)
            if kind == "link":
                info.type = tarfile.LNKTYPE
                info.linkname = str(value)
                tar.addfile(info)
            else:
                data = value if isinstance(value, bytes) else value.encode()
                info.size = len(data)
                info.mode = 0o755
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def save_archive(path: str, layers: list[bytes], tag: str) -> None:
    """A docker-save archive of an image made of ``layers`` (bottom first)."""
    import hashlib
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": []}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag],
                            "Layers": [f"{d[7:]}/layer.tar" for d in diff_ids]}]).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in [(config_name, config), ("manifest.json", manifest)] + \
                [(f"{d[7:]}/layer.tar", layer) for d, layer in zip(diff_ids, layers)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_load_refuses_broken_hardlink_and_leaves_nothing(cli, imported, root, tmp_path):
    """`load` accepted a layer whose hardlink points to a file that is in no layer, and failed only at
    `run`. Refused at load now with one line, no blob of the archive left behind."""
    blobs = os.path.join(root, "images", "blobs", "sha256")
    before = sorted(os.listdir(blobs))
    good = layer_tar([("file", "bin/tool", b"#!/bin/sh\necho tool\n")])
    broken = layer_tar([("file", "etc/a", "a"), ("link", "etc/b", "etc/missing")])
    bad = str(tmp_path / "bad.tar")
    save_archive(bad, [good, broken], "broken:1")
    proc = cli("load", "-i", bad)
    assert proc.returncode == 1, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "hardlink" in lines[0] and "etc/missing" in lines[0], proc.stderr
    assert sorted(os.listdir(blobs)) == before
    assert ok(cli("images", "--format", "{{.Repository}}")).split() == ["busybox"]
    assert check_lines(cli) == (0, [])
    # a link to a file earlier in the same layer is fine, and runs
    fine = str(tmp_path / "fine.tar")
    with open("/bin/busybox", "rb") as f:
        busybox = f.read()
    save_archive(fine, [layer_tar([("file", "bin/sh", busybox),
                                   ("link", "bin/cat", "bin/sh"), ("file", "etc/a", "linked\n"),
                                   ("link", "etc/b", "etc/a")])], "fine:1")
    assert ok(cli("load", "-i", fine)).strip() == "Loaded image: fine:1"
    assert ok(cli("run", "--rm", "--network", "none", "fine:1", "/bin/cat", "/etc/b")) == "linked\n"


def test_import_refuses_broken_hardlink(cli, root):
    """`import` stored a rootfs with a hardlink to nothing; `run` failed on it later."""
    proc = cli("import", "-", "broken", input=layer_tar([("link", "etc/b", "etc/nowhere")]))
    assert proc.returncode == 1 and "hardlink" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc
    assert os.listdir(os.path.join(root, "images", "blobs", "sha256")) == []
    assert ok(cli("images", "-q")) == ""


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_system_check_nat_elements_and_stopped_leftovers(cli, imported, root):
    """nftables port elements must match the running containers' published ports, and a stopped container
    keeps no cgroup: check names each mismatch and --repair fixes it."""
    from engine.runtime import cgroups
    web = ok(cli("run", "-d", "-p", "80", "busybox", "sleep", "300")).strip()
    port = ok(cli("port", web, "80")).split(":")[-1].strip().splitlines()[0]
    addr = ok(cli("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", web)).strip()
    stray_port, stray_addr = free_port(), addr.rsplit(".", 1)[0] + ".199"
    subprocess.run(["nft", f"add element ip portside tcp_any {{ {stray_port} : {stray_addr} . 80 }}"], check=True)
    subprocess.run(["nft", f"delete element ip portside tcp_any {{ {port} }}"], check=True)
    stopped = ok(cli("create", "--network", "none", "busybox", "true")).strip()
    cg = cgroups.Cgroup(f"portside/{stopped}")
    cg.create({})
    straggler = subprocess.Popen(["sleep", "300"])  # an empty cgroup is removed at engine open already
    try:
        cg.add(straggler.pid)
        run_checks_and_repair(cli, cg, stray_port, stray_addr, port, addr, stopped)
        assert straggler.wait(timeout=5) == -signal.SIGKILL
    finally:
        straggler.kill()
        straggler.wait()


def run_checks_and_repair(cli, cg, stray_port, stray_addr, port, addr, stopped) -> None:
    code, lines = check_lines(cli)
    assert code == 1
    assert f"nat  tcp_any {stray_port}  leads to {stray_addr} . 80, which no running container publishes" in lines
    assert f"nat  tcp_any {port}  published port of a running container is not programmed" in lines
    assert f"cgroup  portside/{stopped}  left by a container that is not running" in lines, lines
    code, lines = check_lines(cli, "--repair")
    assert code == 0 and len(lines) == 3, lines
    assert check_lines(cli) == (0, [])
    assert not cg.exists()
    listed = subprocess.run(["nft", "list", "map", "ip", "portside", "tcp_any"], capture_output=True, text=True).stdout
    assert f"{port} : {addr} . 80" in listed and f"{stray_port} :" not in listed, listed


def test_debris_from_before_owner_tags_goes_once(cli, imported, root):
    """The debris already on disk (named before temp names carried their owner) is removed by the first
    command of this version on that data root: the 12 mounts and 498 MB the tester saw go too."""
    import shutil
    shutil.rmtree(os.path.join(root, "ops"))
    old_run = os.path.join(root, "tmp", "run-k2j4abcd")
    os.makedirs(os.path.join(old_run, "rootfs"))
    subprocess.run(["mount", "-t", "tmpfs", "none", os.path.join(old_run, "rootfs")], check=True)
    old_blob = os.path.join(root, "images", "blobs", "sha256", ".tmp-x8y9z0ab")
    with open(old_blob, "wb") as f:
        f.write(b"partial")
    ok(cli("ps"))
    assert mounts_under(root) == [] and debris(root) == []
    assert check_lines(cli) == (0, [])


HOLDER = """
import sys
from engine.engine import Engine
engine = Engine(sys.argv[1])
with engine.images.operation("pull"):
    print(engine.blobs.put_bytes(b"a layer not recorded yet" * 100), flush=True)
    sys.stdin.readline()
"""


def test_a_running_operations_blobs_survive_prune_and_check(cli, imported, root):
    """A blob stored by an operation still running in another process (a pull before it records its image)
    is neither pruned nor reported by check; once that operation is over, prune removes it."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, root], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        digest = holder.stdout.readline().strip()
        path = os.path.join(root, "images", "blobs", "sha256", digest[7:])
        assert os.path.exists(path)
        ok(cli("system", "prune", "-a", "-f"))
        assert os.path.exists(path)
        assert check_lines(cli) == (0, [])
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=10) == 0
    finally:
        holder.kill()
        holder.wait()
        holder.stdin.close()
        holder.stdout.close()
    assert check_lines(cli) == (1, [f"blob  {digest}  is used by no image"])
    ok(cli("image", "prune", "-f"))
    assert not os.path.exists(path)


def test_blobs_of_an_operation_killed_before_recording_its_image_go(cli, imported, root):
    """kill -9 after a load or pull stored its blobs but before it recorded the image: those blobs are
    used by nothing. The next command removes them, and leaves the blobs images use (held too) alone."""
    layer = ok(cli("inspect", "-f", "{{index .RootFS.Layers 0}}", "busybox")).strip()
    script = HOLDER.replace("print(engine.blobs.put_bytes",
                            f'engine.blobs.hold("{layer}"); print(engine.blobs.put_bytes')
    holder = subprocess.Popen([sys.executable, "-c", script, root], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        digest = holder.stdout.readline().strip()
    finally:
        holder.kill()
        holder.wait()
        holder.stdin.close()
        holder.stdout.close()
    blobs = os.path.join(root, "images", "blobs", "sha256")
    assert os.path.exists(os.path.join(blobs, digest[7:]))
    ok(cli("ps"))
    assert not os.path.exists(os.path.join(blobs, digest[7:]))
    assert os.path.exists(os.path.join(blobs, layer[7:]))
    assert f"blob {digest}" in ok(cli("events", "--since", "1m", "--until", "0s", "--filter", "type=system"))
    assert check_lines(cli) == (0, [])
    ok(cli("run", "--rm", "--network", "none", "busybox", "true"))


UNPACKER = """
import os, sys
from engine.engine import Engine
from engine.images import layers
engine = Engine(sys.argv[1])
engine.images.unpack  # noqa: B018 - unpacks as the engine does (its data root owns the temp dir)
blob = lambda: os.fdopen(0, "rb")  # noqa: E731
try:
    layers.ensure_unpacked(engine.paths.layers, "sha256:" + "ab" * 32, blob, owner_root=engine.paths.root)
except TypeError:  # an engine whose unpack names no owner
    layers.ensure_unpacked(engine.paths.layers, "sha256:" + "ab" * 32, blob)
"""


def test_layer_unpack_killed_leaves_no_temp_dir(cli, root, busybox_tar):
    """kill -9 while a layer was being unpacked (run, build) left layers/.tmp-* (47 MB after 14 kills)."""
    with open(busybox_tar, "rb") as f:
        data = f.read()
    unpacker = subprocess.Popen([sys.executable, "-c", UNPACKER, root], cwd=REPO, stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    layers = os.path.join(root, "layers")
    try:
        unpacker.stdin.write(data[: len(data) // 2])
        unpacker.stdin.flush()
        wait_until(lambda: [n for n in os.listdir(layers) if n.startswith(".tmp")], timeout=20)
    finally:
        unpacker.kill()
        unpacker.wait()
        unpacker.stdin.close()
    assert [d for d in debris(root) if d.startswith("layers/")]
    ok(cli("ps"))
    assert debris(root) == []
    assert check_lines(cli) == (0, [])


def test_killed_monitor_of_autoremove_container_removes_it(cli, imported, root):
    """--rm: the monitor removes the container when it ends; with the monitor killed, the next command does."""
    cid = ok(cli("run", "-d", "--rm", "--network", "none", "busybox", "sleep", "300")).strip()
    st = state_of(root, cid)
    os.kill(st["monitor_pid"], signal.SIGKILL)
    wait_until(lambda: not proc_alive(st["monitor_pid"]), timeout=5)
    assert ok(cli("ps", "-aq")) == ""
    assert not proc_alive(st["pid"])
    assert not os.path.exists(os.path.join(root, "containers", cid))
    assert mounts_under(root) == [] and not cgroup_exists(cid)


def test_system_check_reports_and_removes_leftover_build_cgroups(cli, imported, root):
    """A RUN step's cgroup (portside/build-<id>) whose build was gone stayed for ever: `system check` did
    not look at build cgroups. Now one no running build owns is reported, and `--repair` ends what still
    runs in it and removes it; a build cgroup made moments ago (a build about to start its step) is left."""
    import secrets

    from engine.runtime import cgroups
    busy, empty, fresh = (cgroups.Cgroup(f"portside/build-{secrets.token_hex(32)}") for _ in range(3))
    for g in (busy, empty, fresh):
        g.create({})
    sleeper = subprocess.Popen(["sleep", "311"], preexec_fn=lambda: busy.add(0))
    try:
        for d in empty.dirs():  # an empty one from a build that died a while ago
            os.utime(d, (time.time() - 3600,) * 2)
        wait_until(lambda: busy.pids() == [sleeper.pid])
        code, lines = check_lines(cli)
        assert code == 1, lines
        for g in (busy, empty):
            assert any(line.startswith("cgroup  ") and g.name in line and "no running build" in line
                       for line in lines), (g.name, lines)
        assert not any(fresh.name in line for line in lines), lines
        code, lines = check_lines(cli, "--repair")
        assert code == 0 and any(busy.name in line and line.endswith("  repaired") for line in lines), lines
        sleeper.wait(timeout=5)
        assert not busy.exists() and not empty.exists() and fresh.exists()
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
        for g in (busy, empty, fresh):
            cleanup_cgroup(g)


def cleanup_cgroup(group) -> None:
    try:
        if group.exists():
            group.kill_all()
            group.destroy()
    except Exception:  # noqa: BLE001 - best effort in a finally
        pass


def test_dead_operation_without_a_cgroup_note_still_loses_its_process_cgroup(cli, imported, root):
    """A dead build's record from before cgroups were noted lists only its RUN process: the sweep ended
    the process and left its cgroup. It now finds the cgroup from the process before ending it."""
    import secrets

    from engine.runtime import cgroups
    from engine.runtime.monitor import proc_start_time
    group = cgroups.Cgroup(f"portside/build-{secrets.token_hex(32)}")
    group.create({})
    sleeper = subprocess.Popen(["sleep", "307"], preexec_fn=lambda: group.add(0))
    try:
        wait_until(lambda: group.pids() == [sleeper.pid])
        dead = "999999999.1"  # no such process: the operation's owner is gone
        ops = os.path.join(root, "ops")
        os.makedirs(ops, exist_ok=True)
        open(os.path.join(ops, dead), "w").close()
        with open(os.path.join(ops, f"{dead}.build.0a0b0c0d"), "w") as f:
            f.write(f"pid {sleeper.pid} {proc_start_time(sleeper.pid)}\n")
        ok(cli("ps"))
        assert sleeper.wait(timeout=5) == -signal.SIGKILL
        assert not group.exists()
        assert os.listdir(ops) == []
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
        cleanup_cgroup(group)
