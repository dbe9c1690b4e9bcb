"""Integration tests for containers through the ``portside`` command line: real containers, as root.

Each test gets a fresh data root (the ``root`` fixture) with busybox imported (``imported``), and
checks docker's behaviour: output columns, exit codes, error wording, isolation and clean-up.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, mounts, cgroups)")]

DOCKER_CAPEFF = "00000000a80425fb"
CGROUP_V1 = os.path.isdir("/sys/fs/cgroup/cpu") and os.path.isdir("/sys/fs/cgroup/memory")
RUNTIMES = ["native", pytest.param("runc", marks=pytest.mark.skipif(not os.path.exists("/usr/sbin/runc"),
                                                                      reason="runc is not installed"))]


# -- helpers ----------------------------------------------------------------------------------------
def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc.stdout


def run_d(cli, *args: str) -> str:
    cid = ok(cli("run", "-d", *args)).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid), cid
    return cid


def inspect(cli, name: str, fmt: str) -> str:
    return ok(cli("inspect", "--format", fmt, name)).strip()


def status(cli, name: str) -> str:
    return inspect(cli, name, "{{.State.Status}}")


def wait_until(pred, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def runtime_state(root: str, cid: str) -> dict:
    with open(os.path.join(root, "containers", cid, "state.json")) as f:
        return json.load(f)


def mounts_under(path: str) -> list[str]:
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path + "/")]


def proc_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def cgroup_dir(controller: str, cid: str) -> str:
    return f"/sys/fs/cgroup/{controller}/portside/{cid}"


def host_interfaces() -> set[str]:
    with open("/proc/net/dev") as f:
        return {line.split(":")[0].strip() for line in f.readlines()[2:]}


def assert_nothing_left(root: str, cli) -> None:
    assert ok(cli("ps", "-aq")).strip() == ""
    cdir = os.path.join(root, "containers")
    assert not os.path.isdir(cdir) or os.listdir(cdir) == []
    assert mounts_under(root) == []


# -- isolation --------------------------------------------------------------------------------------
ALLOWED_MOUNTS = ("/", "/proc", "/dev", "/sys", "/etc/resolv.conf", "/etc/hostname", "/etc/hosts")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_isolation(cli, imported, root, runtime):
    script = ("echo pid=$$; echo host=$(hostname); grep -E '^(CapEff|Seccomp):' /proc/self/status; "
              "echo mounts; cat /proc/mounts; echo net; cat /proc/net/dev")
    cid = run_d(cli, "--runtime", runtime, "busybox", "sh", "-c", script)
    assert ok(cli("wait", cid)).strip() == "0"
    text = ok(cli("logs", cid))
    assert "pid=1\n" in text
    assert f"host={cid[:12]}\n" in text
    assert re.search(r"CapEff:\s+" + DOCKER_CAPEFF, text), text
    assert re.search(r"Seccomp:\s+2\n", text), text
    mounts_part = text.split("mounts\n", 1)[1].split("net\n", 1)[0]
    points = [line.split()[1] for line in mounts_part.splitlines() if line.strip()]
    assert "/" in points and "/proc" in points
    for mp in points:
        assert mp in ALLOWED_MOUNTS or mp.startswith(("/proc/", "/dev/", "/sys/")), f"host mount visible: {mp}"
    assert not any(mp.startswith(("/work", "/tmp", "/boot", "/home", "/var")) for mp in points)
    ifaces = {line.split(":")[0].strip() for line in text.split("net\n", 1)[1].splitlines()[2:] if ":" in line}
    assert ifaces == {"lo", "eth0"}  # the default bridge network (--network none: lo only, test_network_modes)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_network_modes(cli, imported, runtime):
    none = ok(cli("run", "--rm", "--runtime", runtime, "--network", "none", "busybox", "cat", "/proc/net/dev"))
    assert {line.split(":")[0].strip() for line in none.splitlines()[2:]} == {"lo"}
    before = host_interfaces()
    host = ok(cli("run", "--rm", "--runtime", runtime, "--network", "host", "busybox", "cat", "/proc/net/dev"))
    after = host_interfaces()
    seen = {line.split(":")[0].strip() for line in host.splitlines()[2:]}
    # the host's links may come and go meanwhile (other containers' veths): compare with both views
    assert before & after <= seen <= before | after
    assert len(seen) > 1


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_tty(cli, imported, runtime):
    out = ok(cli("run", "--rm", "-t", "--runtime", runtime, "busybox", "sh", "-c",
                 "test -t 0 && test -t 1 && echo tty; echo $TERM", input=b""))  # bytes: keep the \r
    assert out == "tty\r\nxterm\r\n"  # a terminal's line discipline, as with docker run -t


@pytest.mark.skipif(not CGROUP_V1, reason="cgroup v1 paths")
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_resource_limits(cli, imported, runtime):
    cid = run_d(cli, "--runtime", runtime, "--cpus", "0.5", "--pids-limit", "20", "-m", "64m",
                "busybox", "sleep", "30")
    assert status(cli, cid) == "running"
    with open(os.path.join(cgroup_dir("cpu", cid), "cpu.cfs_quota_us")) as f:
        assert f.read().strip() == "50000"
    with open(os.path.join(cgroup_dir("cpu", cid), "cpu.cfs_period_us")) as f:
        assert f.read().strip() == "100000"
    with open(os.path.join(cgroup_dir("pids", cid), "pids.max")) as f:
        assert f.read().strip() == "20"
    with open(os.path.join(cgroup_dir("memory", cid), "memory.limit_in_bytes")) as f:
        assert int(f.read()) == 64 * 1024 * 1024
    # the pids limit bites inside: 40 background sleeps cannot all start
    proc = cli("exec", cid, "sh", "-c", "for i in $(seq 40); do sleep 5 >/dev/null 2>&1 & done")
    assert "can't fork: Resource temporarily unavailable" in proc.stdout + proc.stderr
    ok(cli("rm", "-f", cid))
    for ctl in ("cpu", "pids", "memory"):
        assert not os.path.exists(cgroup_dir(ctl, cid))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_oom_killed(cli, imported, runtime):
    proc = cli("run", "--name", "hog", "--runtime", runtime, "-m", "32m", "busybox", "sh", "-c",
               'x=$(head -c 400000000 /dev/zero | tr "\\0" a)', timeout=60)
    assert proc.returncode == 137, proc.stderr
    assert inspect(cli, "hog", "{{.State.OOMKilled}}") == "true"
    assert inspect(cli, "hog", "{{.State.ExitCode}}") == "137"


# -- lifecycle --------------------------------------------------------------------------------------
def test_run_detached_and_ps(cli, imported):
    cid = run_d(cli, "--name", "web", "busybox", "sleep", "30")
    done = run_d(cli, "--name", "done", "busybox", "sh", "-c", "exit 3")
    assert ok(cli("wait", "done")).strip() == "3"

    lines = ok(cli("ps")).splitlines()
    header = lines[0]
    cols = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    positions = [header.index(c) for c in cols]
    assert positions == sorted(positions)
    assert len(lines) == 2
    assert lines[1].startswith(cid[:12])
    assert '"sleep 30"' in lines[1]
    assert "Up " in lines[1]
    assert lines[1].rstrip().endswith("web")

    all_lines = ok(cli("ps", "-a")).splitlines()
    assert len(all_lines) == 3
    assert any("Exited (3)" in line and line.rstrip().endswith("done") for line in all_lines)

    assert ok(cli("ps", "-q")).split() == [cid[:12]]
    assert sorted(ok(cli("ps", "-aq")).split()) == sorted([cid[:12], done[:12]])
    assert ok(cli("ps", "-aq", "--no-trunc", "-f", "status=exited")).split() == [done]
    assert ok(cli("ps", "-aq", "-f", "name=web")).split() == [cid[:12]]
    # newest first, as docker lists them
    assert ok(cli("ps", "-a", "--format", "{{.Names}} {{.State}}")).splitlines() == ["done exited", "web running"]
    assert ok(cli("ps", "-aq", "-n", "1")).split() == [done[:12]]
    table = ok(cli("ps", "--format", "table {{.ID}}\t{{.Names}}")).splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "NAMES"]
    assert table[1].split() == [cid[:12], "web"]


def test_stop_kill_signals(cli, imported):
    # a process that hears SIGTERM and goes on: SIGKILL when the grace period is over
    stubborn = run_d(cli, "busybox", "sh", "-c", "trap 'echo not-yet' TERM; while true; do sleep 0.1; done")
    t0 = time.monotonic()
    ok(cli("stop", "-t", "1", stubborn))
    took = time.monotonic() - t0
    assert 0.9 <= took < 6, took
    assert status(cli, stubborn) == "exited"
    assert inspect(cli, stubborn, "{{.State.ExitCode}}") == "137"
    assert "not-yet" in ok(cli("logs", stubborn))

    # a container's init with no handler for SIGTERM cannot receive it (the kernel drops it): no wait for
    # nothing, SIGKILL at once
    sleeper = run_d(cli, "busybox", "sleep", "60")
    t0 = time.monotonic()
    ok(cli("stop", "-t", "30", sleeper))
    assert time.monotonic() - t0 < 20
    assert status(cli, sleeper) == "exited"
    assert inspect(cli, sleeper, "{{.State.ExitCode}}") == "137"

    graceful = run_d(cli, "busybox", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done")
    t0 = time.monotonic()
    ok(cli("stop", "-t", "10", graceful))
    assert time.monotonic() - t0 < 5
    assert inspect(cli, graceful, "{{.State.ExitCode}}") == "0"

    # --init: docker-init waits for its signals (rt_sigtimedwait, no handler) and hands SIGTERM on
    initd = run_d(cli, "--init", "busybox", "sh", "-c", "trap 'echo got TERM; exit 3' TERM; while :; do sleep 0.1; done")
    time.sleep(0.3)  # (the shell has set its trap)
    ok(cli("stop", "-t", "10", initd))
    assert inspect(cli, initd, "{{.State.ExitCode}}") == "3"
    assert "got TERM" in ok(cli("logs", initd))

    custom = run_d(cli, "--stop-signal", "USR1", "busybox", "sh", "-c",
                   "trap 'echo got-usr1; exit 5' USR1; while true; do sleep 0.1; done")
    assert inspect(cli, custom, "{{.Config.StopSignal}}") == "USR1"
    ok(cli("stop", "-t", "10", custom))
    assert inspect(cli, custom, "{{.State.ExitCode}}") == "5"
    assert "got-usr1" in ok(cli("logs", custom))

    killed = run_d(cli, "busybox", "sh", "-c", "trap 'echo got-hup; exit 7' HUP; while true; do sleep 0.1; done")
    time.sleep(0.3)
    assert ok(cli("kill", "-s", "HUP", killed)).strip() == killed
    assert ok(cli("wait", killed)).strip() == "7"
    victim = run_d(cli, "busybox", "sleep", "60")
    ok(cli("kill", victim))
    assert ok(cli("wait", victim)).strip() == "137"
    proc = cli("kill", victim)
    assert proc.returncode == 1
    assert "is not running" in proc.stderr


def test_rm_restart_start_rename(cli, imported):
    cid = run_d(cli, "--name", "one", "busybox", "sleep", "60")
    proc = cli("rm", cid[:12])  # docker names the container as "/name", however it was given
    assert proc.returncode == 1
    assert ("Error response from daemon: cannot remove container \"/one\": container is running: stop the "
            "container before removing or force remove") in proc.stderr
    first_pid = inspect(cli, "one", "{{.State.Pid}}")
    ok(cli("restart", "-t", "1", "one"))
    assert status(cli, "one") == "running"
    assert inspect(cli, "one", "{{.State.Pid}}") != first_pid
    ok(cli("stop", "-t", "1", "one"))
    assert status(cli, "one") == "exited"
    assert ok(cli("start", "one")).strip() == "one"
    assert status(cli, "one") == "running"
    ok(cli("rename", "one", "two"))
    assert inspect(cli, cid, "{{.Name}}") == "/two"
    assert cli("inspect", "one").returncode != 0
    assert ok(cli("rm", "-f", "two")).strip() == "two"
    assert ok(cli("ps", "-aq")).strip() == ""
    assert not os.path.exists(cgroup_dir("memory", cid)) or not CGROUP_V1


def test_rm_volumes(cli, imported, root):
    # an image with a VOLUME gets an anonymous volume; rm -v removes it, plain rm keeps it
    cid = ok(cli("create", "-v", "/data", "busybox", "true")).strip()
    mounts = json.loads(inspect(cli, cid, "{{json .Mounts}}"))
    assert len(mounts) == 1 and mounts[0]["Type"] == "volume"
    vol = mounts[0]["Name"]
    assert vol in ok(cli("volume", "ls", "-q")).split()
    ok(cli("rm", "-v", cid))
    assert vol not in ok(cli("volume", "ls", "-q")).split()
    assert not os.path.exists(os.path.join(root, "volumes", vol))

    cid = ok(cli("create", "-v", "/data", "busybox", "true")).strip()
    vol = json.loads(inspect(cli, cid, "{{json .Mounts}}"))[0]["Name"]
    ok(cli("rm", cid))
    assert vol in ok(cli("volume", "ls", "-q")).split()


def test_autoremove_wait_and_name_conflict(cli, imported, root):
    proc = cli("run", "--rm", "--name", "gone", "busybox", "sh", "-c", "echo hi; exit 4")
    assert proc.returncode == 4
    assert proc.stdout == "hi\n"
    wait_until(lambda: ok(cli("ps", "-aq")).strip() == "", timeout=5)
    assert mounts_under(root) == []

    cid = run_d(cli, "--rm", "busybox", "sh", "-c", "sleep 0.3")
    wait_until(lambda: cid[:12] not in ok(cli("ps", "-aq")), timeout=10)
    # the row goes first, its folder right after (the monitor's clean-up): gone too, not left behind
    wait_until(lambda: not os.path.exists(os.path.join(root, "containers", cid)), timeout=5)
    # rm -f of a running --rm container: its monitor removes it as it dies; rm says so once, no traceback
    cid = run_d(cli, "--rm", "busybox", "sleep", "100")
    proc = cli("rm", "-f", cid)
    assert (proc.returncode, proc.stdout.strip(), proc.stderr) == (0, cid, ""), proc.stderr
    wait_until(lambda: not os.path.exists(os.path.join(root, "containers", cid)), timeout=5)
    assert ok(cli("ps", "-aq")).strip() == "" and mounts_under(root) == []

    first = ok(cli("create", "--name", "taken", "busybox", "true")).strip()
    proc = cli("run", "--name", "taken", "busybox", "true")
    assert proc.returncode == 125
    assert (f'Conflict. The container name "/taken" is already in use by container "{first}". You have to remove '
            f"(or rename) that container to be able to reuse that name.") in proc.stderr
    assert ok(cli("ps", "-aq", "--no-trunc")).split() == [first]


def test_logs(cli, imported):
    cid = run_d(cli, "--name", "talker", "busybox", "sh", "-c",
                "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done")
    assert ok(cli("wait", cid)).strip() == "0"
    proc = cli("logs", "talker")
    assert proc.stdout == "out1\nout2\nout3\nout4\nout5\n"
    assert proc.stderr == "err1\nerr2\nerr3\nerr4\nerr5\n"
    proc = cli("logs", "--tail", "2", "talker")
    # --tail counts lines of both streams together, as docker does
    assert (proc.stdout + proc.stderr).count("\n") == 2
    # (the two pipes are read separately, so only the last entries of the log, whichever stream, count)
    assert set((proc.stdout + proc.stderr).split()) <= {"out4", "out5", "err4", "err5"}
    stamped = ok(cli("logs", "-t", "talker")).splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z out\d$", line) for line in stamped), stamped
    assert ok(cli("logs", "--since", "2030-01-01T00:00:00Z", "talker")) == ""
    assert ok(cli("logs", "--since", "1h", "talker")).count("\n") == 5

    follower = run_d(cli, "busybox", "sh", "-c", "echo a; sleep 1; echo b")
    t0 = time.monotonic()
    proc = cli("logs", "-f", follower, timeout=20)
    assert proc.returncode == 0
    assert proc.stdout == "a\nb\n"
    assert time.monotonic() - t0 < 10


def test_exec_top_stats(cli, imported):
    cid = run_d(cli, "--name", "box", "-e", "FOO=bar", "busybox", "sleep", "60")
    assert ok(cli("exec", "box", "echo", "hello")) == "hello\n"
    assert cli("exec", "box", "sh", "-c", "exit 9").returncode == 9
    assert ok(cli("exec", "-e", "X=y", "box", "sh", "-c", "echo $FOO $X")) == "bar y\n"
    assert ok(cli("exec", "-u", "nobody", "box", "id", "-u")) == "65534\n"
    assert ok(cli("exec", "-w", "/tmp", "box", "pwd")) == "/tmp\n"
    assert cli("exec", "box", "nosuchcmd").returncode == 127

    top = ok(cli("top", "box")).splitlines()
    assert top[0].split()[:3] == ["UID", "PID", "PPID"]
    assert any("sleep 60" in line for line in top[1:])

    stats = ok(cli("stats", "--no-stream", "box")).splitlines()
    assert stats[0].startswith("CONTAINER ID")
    for col in ("NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"):
        assert col in stats[0]
    assert stats[1].startswith(cid[:12]) and " box " in stats[1]
    assert stats[1].split()[-1] == "1"

    ok(cli("stop", "-t", "1", "box"))
    proc = cli("exec", "box", "true")
    assert proc.returncode == 1
    assert "is not running" in proc.stderr
    proc = cli("exec", "nosuchbox", "true")
    assert proc.returncode == 1
    assert "Error response from daemon: No such container: nosuchbox" in proc.stderr


def test_container_prune_and_inspect_templates(cli, imported):
    cid = ok(cli("create", "--name", "tpl", "-e", "A=1", "-e", "B=two", "-l", "a=alpha", "-l", "b=beta",
                 "busybox", "echo", "x")).strip()
    assert inspect(cli, "tpl", "{{.State.Status}}") == "created"
    env = json.loads(inspect(cli, "tpl", "{{json .Config.Env}}"))
    assert "A=1" in env and "B=two" in env
    assert inspect(cli, "tpl", '{{index .Config.Labels "a"}}') == "alpha"
    assert inspect(cli, "tpl", "{{range .Config.Env}}[{{.}}]{{end}}") == "".join(f"[{e}]" for e in env)
    assert inspect(cli, "tpl", "{{.Id}}") == cid
    assert inspect(cli, "tpl", "{{.Config.Cmd}}") == "[echo x]"

    running = run_d(cli, "busybox", "sleep", "60")
    ok(cli("start", "tpl"))
    ok(cli("wait", "tpl"))
    out = ok(cli("container", "prune", "-f"))
    assert "Deleted Containers:" in out and cid in out
    assert running not in out
    assert ok(cli("ps", "-aq", "--no-trunc")).split() == [running]


def test_volumes_env_workdir_user(cli, imported, tmp_path):
    host_dir = tmp_path / "share"
    host_dir.mkdir()
    (host_dir / "in.txt").write_text("from host\n")
    assert ok(cli("run", "--rm", "-v", f"{host_dir}:/mnt", "busybox", "sh", "-c",
                  "cat /mnt/in.txt; echo from container > /mnt/out.txt")) == "from host\n"
    assert (host_dir / "out.txt").read_text() == "from container\n"
    proc = cli("run", "--rm", "-v", f"{host_dir}:/mnt:ro", "busybox", "sh", "-c", "echo x > /mnt/ro.txt")
    assert proc.returncode != 0
    assert "Read-only file system" in proc.stderr
    assert not (host_dir / "ro.txt").exists()

    ok(cli("run", "--rm", "-v", "keep:/data", "busybox", "sh", "-c", "echo persisted > /data/f"))
    assert ok(cli("run", "--rm", "-v", "keep:/data", "busybox", "cat", "/data/f")) == "persisted\n"
    assert "keep" in ok(cli("volume", "ls", "-q")).split()

    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=1\nSHARED=file\n")
    out = ok(cli("run", "--rm", "--env-file", str(env_file), "-e", "SHARED=flag", "-e", "ONE=1", "busybox",
                 "sh", "-c", "echo $FROM_FILE $SHARED $ONE"))
    assert out == "1 flag 1\n"
    assert ok(cli("run", "--rm", "-w", "/tmp/new", "busybox", "pwd")) == "/tmp/new\n"
    assert ok(cli("run", "--rm", "-u", "nobody", "busybox", "id")).startswith("uid=65534(nobody) gid=65534")
    assert ok(cli("run", "--rm", "-u", "1000", "busybox", "id", "-u")) == "1000\n"
    assert ok(cli("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint")) == "via entrypoint\n"
    assert ok(cli("run", "--rm", "--hostname", "custom", "busybox", "hostname")) == "custom\n"
    init = ok(cli("run", "--rm", "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"))
    assert init.startswith("/sbin/docker-init -- sh"), init


def test_tmpfs_and_mount_flags(cli, imported, tmp_path):
    """``--tmpfs PATH[:OPTIONS]`` and ``--mount type=tmpfs|bind|volume`` as docker's: a tmpfs with docker's
    defaults (noexec, nosuid, nodev) under the options given, gone with the container; a --mount bind
    source must exist (``-v`` makes one, ``--mount`` does not); bad ones are one line, nothing made."""
    out = ok(cli("run", "--rm", "--network", "none", "--tmpfs", "/scratch:size=1m,mode=1770", "busybox", "sh", "-c",
                 "grep ' /scratch ' /proc/mounts; stat -c %a /scratch; echo x > /scratch/f && cat /scratch/f"))
    line, mode, written = out.splitlines()
    fields = line.split()
    assert fields[2] == "tmpfs" and fields[1] == "/scratch", line
    opts = fields[3].split(",")
    assert {"rw", "nosuid", "nodev", "noexec", "size=1024k"} <= set(opts), opts
    assert (mode, written) == ("1770", "x")
    # the later of a flag and its opposite wins; read-only and a size from --mount
    out = ok(cli("run", "--rm", "--network", "none", "--tmpfs", "/run/x:exec", "--mount",
                 "type=tmpfs,dst=/ro,tmpfs-size=2m,readonly", "busybox", "sh", "-c",
                 "grep -E ' /(run/x|ro) ' /proc/mounts; touch /ro/f 2>/dev/null || echo refused"))
    *lines, refused = out.splitlines()
    by_dest = {ln.split()[1]: ln.split()[3].split(",") for ln in lines}
    assert "noexec" not in by_dest["/run/x"] and "nosuid" in by_dest["/run/x"]
    assert "ro" in by_dest["/ro"] and "size=2048k" in by_dest["/ro"]
    assert refused == "refused"
    # --mount bind and volume
    share = tmp_path / "share"
    share.mkdir()
    (share / "in").write_text("hi\n")
    assert ok(cli("run", "--rm", "--network", "none", "--mount", f"type=bind,src={share},dst=/mnt,readonly",
                  "--mount", "type=volume,src=mvol,dst=/data", "busybox", "sh", "-c",
                  "cat /mnt/in; echo kept > /data/f; touch /mnt/no 2>/dev/null || echo ro")) == "hi\nro\n"
    assert ok(cli("run", "--rm", "--network", "none", "-v", "mvol:/data", "busybox", "cat", "/data/f")) == "kept\n"
    cid = ok(cli("create", "--network", "none", "--tmpfs", "/t", "--mount", "type=tmpfs,dst=/u", "busybox", "true")).strip()
    assert json.loads(inspect(cli, cid, "{{json .HostConfig.Tmpfs}}")) == {"/t": ""}
    assert [(m["Type"], m["Destination"]) for m in json.loads(inspect(cli, cid, "{{json .Mounts}}"))] == \
        [("tmpfs", "/u")]
    ok(cli("rm", cid))
    before = ok(cli("ps", "-aq"))
    for args, needle in (
            (["--tmpfs", "relative"], "invalid mount path: 'relative' mount path must be absolute"),
            (["--tmpfs", "/x:bogus"], "invalid tmpfs option 'bogus' for /x"),
            (["--tmpfs", "/x", "-v", "/tmp:/x"], "Duplicate mount point: /x"),
            (["--mount", f"type=bind,src={tmp_path}/absent,dst=/x"], "bind source path does not exist"),
            (["--mount", "type=npipe,src=a,dst=/x"], "mount type npipe is not supported here")):
        p = cli("create", "--network", "none", *args, "busybox", "true")
        assert p.returncode != 0 and needle in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert ok(cli("ps", "-aq")) == before and not (tmp_path / "absent").exists()


# -- restart policies ---------------------------------------------------------------------------------
def test_restart_on_failure(cli, imported):
    cid = run_d(cli, "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 3")
    wait_until(lambda: inspect(cli, cid, "{{.State.Status}} {{.RestartCount}}") == "exited 2", timeout=15)
    assert inspect(cli, cid, "{{.State.ExitCode}}") == "3"
    time.sleep(0.5)
    assert inspect(cli, cid, "{{.RestartCount}}") == "2"
    assert ok(cli("logs", cid)) == "run\nrun\nrun\n"
    # a clean exit is not a failure
    ok_cid = run_d(cli, "--restart", "on-failure", "busybox", "true")
    assert ok(cli("wait", ok_cid)).strip() == "0"
    time.sleep(0.3)
    assert inspect(cli, ok_cid, "{{.RestartCount}} {{.State.Status}}") == "0 exited"


@pytest.mark.parametrize("policy", ["always", "unless-stopped"])
def test_restart_always_backoff(cli, imported, policy):
    cid = run_d(cli, "--restart", policy, "busybox", "sh", "-c", "echo tick; exit 1")
    wait_until(lambda: int(inspect(cli, cid, "{{.RestartCount}}")) >= 4, timeout=15)
    stamps = [line.split()[0] for line in ok(cli("logs", "-t", cid)).splitlines()]
    from engine.units import parse_rfc3339
    times = [parse_rfc3339(s) for s in stamps]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) >= 3
    # docker's back-off doubles from 100 ms: each wait is longer than the one before
    assert gaps[2] > gaps[0] * 1.5, gaps
    assert gaps[0] >= 0.08, gaps
    t0 = time.monotonic()
    ok(cli("stop", "-t", "1", cid))
    assert time.monotonic() - t0 < 5
    assert status(cli, cid) == "exited"
    count = inspect(cli, cid, "{{.RestartCount}}")
    time.sleep(1)
    assert status(cli, cid) == "exited"
    assert inspect(cli, cid, "{{.RestartCount}}") == count


def test_restart_always_then_stop_running(cli, imported):
    cid = run_d(cli, "--restart", "always", "busybox", "sleep", "60")
    pid = int(inspect(cli, cid, "{{.State.Pid}}"))
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: inspect(cli, cid, "{{.RestartCount}}") == "1" and status(cli, cid) == "running", timeout=10)
    ok(cli("stop", "-t", "1", cid))
    time.sleep(0.5)
    assert status(cli, cid) == "exited"


# -- exit codes ---------------------------------------------------------------------------------------
def test_exit_codes(cli, imported):
    proc = cli("run", "--bogus", "busybox", "true")
    assert proc.returncode == 125
    assert "unknown flag: --bogus" in proc.stderr
    # a missing image is pulled: from a loopback registry where nothing listens (tests never reach out)
    proc = cli("run", "localhost:9/nosuchimage")
    assert proc.returncode == 125
    assert "Unable to find image 'localhost:9/nosuchimage:latest' locally" in proc.stderr
    proc = cli("run", "--restart", "sometimes", "busybox", "true")
    assert proc.returncode == 125
    assert "invalid restart policy" in proc.stderr
    proc = cli("run", "busybox", "/etc")
    assert proc.returncode == 126, proc.stderr
    assert "permission denied" in proc.stderr.lower() or "is a directory" in proc.stderr.lower()
    proc = cli("run", "busybox", "nosuch")
    assert proc.returncode == 127, proc.stderr
    assert "executable file not found in $PATH" in proc.stderr or "not found" in proc.stderr
    assert cli("run", "busybox", "sh", "-c", "exit 42").returncode == 42
    assert cli("run", "busybox", "false").returncode == 1
    assert ok(cli("run", "busybox", "echo", "fine")) == "fine\n"


# -- reconciliation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_recover_after_killed_monitor(cli, imported, root, runtime):
    cid = run_d(cli, "--runtime", runtime, "busybox", "sleep", "60")
    st = runtime_state(root, cid)
    mon, pid = st["monitor_pid"], st["pid"]
    assert mon and pid
    os.kill(mon, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not proc_alive(pid), timeout=5)
    lines = ok(cli("ps", "-a")).splitlines()
    assert len(lines) == 2 and "Exited" in lines[1], lines
    assert status(cli, cid) == "exited"
    assert ok(cli("ps", "-q")).strip() == ""
    ok(cli("rm", cid))
    assert mounts_under(root) == []
    leftovers = [d for d in os.listdir("/sys/fs/cgroup") if os.path.exists(cgroup_dir(d, cid))]
    assert leftovers == []
    assert not os.path.exists(os.path.join(root, "containers", cid))
    assert not os.path.exists(os.path.join(root, "runtime", runtime, cid))


# -- bad input ---------------------------------------------------------------------------------------
def test_bad_input_leaves_nothing(cli, imported, root):
    bad = [
        ["run", "--bogus", "busybox"],
        ["run", "localhost:9/nosuchimage"],  # pulled from loopback, where nothing listens
        ["create", "localhost:9/nosuchimage"],
        ["run", "-v", "/tmp:relative", "busybox", "true"],
        ["run", "-v", "bad name!:/x", "busybox", "true"],
        ["run", "-m", "1k", "busybox", "true"],
        ["run", "--restart", "bogus", "busybox", "true"],
        ["run", "--rm", "--restart", "always", "busybox", "true"],
        ["run", "--name", "bad/name", "busybox", "true"],
        ["create", "--name", "-x", "busybox", "true"],
        ["run", "-w", "relative", "busybox", "true"],
        ["run", "--network", "nosuchnet", "busybox", "true"],
        ["run", "--runtime", "nosuchruntime", "busybox", "true"],
        ["run", "--stop-signal", "NOPE", "busybox", "true"],
        ["run", "--rm", "busybox", "nosuchcommand"],
        ["run", "--rm", "busybox", "/etc"],
        ["run", "--rm", "-d", "busybox", "nosuchcommand"],
    ]
    for args in bad:
        proc = cli(*args)
        assert proc.returncode in (125, 126, 127), (args, proc.returncode, proc.stderr)
        assert proc.stderr.strip(), args
    time.sleep(0.3)
    assert_nothing_left(root, cli)
    assert ok(cli("volume", "ls", "-q")).strip() == ""


def test_failed_start_leaves_a_created_container(cli, imported):
    """As docker: a container whose command cannot be found never ran, so it stays "Created" (exit 127)."""
    proc = cli("run", "--name", "nf", "busybox", "nosuch")
    assert proc.returncode == 127, proc.stderr
    assert ok(cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "nf")).strip() == "created 127"
    assert "Created" in ok(cli("ps", "-a", "--filter", "name=nf", "--format", "{{.Status}}"))
    ok(cli("rm", "nf"))


def test_tty_comes_from_the_containers_own_devpts(cli, imported):
    """Regression: with -t the pty came from the host's devpts, so `tty` inside said "not a tty"."""
    out = ok(cli("run", "--rm", "-t", "busybox", "sh", "-c", "tty; test -c /dev/console && echo console",
                 input=b""))
    assert out.replace("\r", "").split("\n")[:2] == ["/dev/pts/0", "console"], out


def test_exec_tty_comes_from_the_containers_own_devpts(cli, imported):
    """Regression: `exec -t` allocated its pty on the host's devpts, so `tty` inside said "not a tty"."""
    cid = run_d(cli, "busybox", "sleep", "30")
    out = ok(cli("exec", "-t", cid, "tty", input=b""))
    assert out.replace("\r", "").strip() == "/dev/pts/0", out
    assert cli("exec", "-t", cid, "sh", "-c", "exit 5", input=b"").returncode == 5
