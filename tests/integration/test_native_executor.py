"""Integration tests for the native OCI executor (engine.runtime.native), cgroups and seccomp.

Needs root. Each test runs containers from a busybox rootfs built in a temp dir and checks that
no child process, mount or cgroup is left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid

import pytest

if os.geteuid() != 0:
    pytest.skip("needs root", allow_module_level=True)

from engine.errors import CommandNotFound, ContainerCannotRun, EngineError, KernelFeatureMissing  # noqa: E402
from engine.runtime import cgroups, linux, native, seccomp  # noqa: E402

DOCKER_CAPEFF = 0x00000000A80425FB
BUSYBOX = "/bin/busybox"


# ---------------------------------------------------------------------------------------------
# helpers / fixtures
# ---------------------------------------------------------------------------------------------
def make_spec(args, *, caps=None, seccomp_profile=None, hostname="testhost", namespaces=None,
              readonly=False, nnp=False, user=None, cwd="/", env=None, mounts_extra=()):
    """A spec mirroring `runc spec` plus docker's defaults (caps, hostname, namespaces)."""
    caps = list(linux.DOCKER_DEFAULT_CAPS if caps is None else caps)
    spec = {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": user or {"uid": 0, "gid": 0},
            "args": list(args),
            "env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": nnp,
        },
        "root": {"path": "rootfs", "readonly": readonly},
        "hostname": hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
            *mounts_extra,
        ],
        "linux": {
            "namespaces": namespaces if namespaces is not None else
            [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                            "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }
    if seccomp_profile is not None:
        spec["linux"]["seccomp"] = seccomp_profile
    return spec


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    base = tmp_path_factory.mktemp("bundle")
    rootfs = base / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    for d in ("proc", "sys", "dev", "etc", "tmp", "root"):
        (rootfs / d).mkdir()
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", rootfs / "bin" / applet)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\n")
    (rootfs / "notexec.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(rootfs / "notexec.sh", 0o644)
    return str(base)


def _host_mounts() -> list[str]:
    with open("/proc/self/mounts") as f:
        return f.read().splitlines()


def _children_alive() -> bool:
    try:
        pid, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return False
    return True  # pid 0: children exist (not yet exited); pid>0: a leftover zombie


@pytest.fixture(autouse=True)
def no_leftovers():
    mounts_before = _host_mounts()
    yield
    assert not _children_alive(), "a child process was left behind"
    # only additions count: earlier tests' monitors may still be unmounting their own containers
    added = set(_host_mounts()) - set(mounts_before)
    assert not added, f"mounts left behind: {sorted(added)}"


@pytest.fixture
def cgroup():
    """A fresh container cgroup, destroyed (with its portside-test parent) afterwards."""
    parent = f"portside-test-{uuid.uuid4().hex[:8]}"
    cg = cgroups.Cgroup(f"{parent}/{uuid.uuid4().hex[:12]}")
    created = []
    try:
        yield cg, created
    finally:
        if cg.exists():
            cg.kill_all(signal.SIGKILL)
            cg.destroy()
        for c in cgroups.V1_CONTROLLERS + ("",):
            p = os.path.join(cgroups.ROOT, c, parent) if not cg.v2 else os.path.join(cgroups.ROOT, parent)
            if os.path.isdir(p):
                os.rmdir(p)
        assert not cg.exists()


def cat(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return status


def run(bundle, spec, *, cgroup=None, timeout=20):
    """start() the spec, collect stdout/stderr, wait; returns (status, stdout, stderr)."""
    rin, win = os.pipe()
    rout, wout = os.pipe()
    rerr, werr = os.pipe()
    os.close(win)
    try:
        pid = native.start(spec, bundle, rin, wout, werr, cgroup=cgroup)
    finally:
        os.close(rin)
        os.close(wout)
        os.close(werr)
    try:
        out = _read_all(rout, timeout)
        err = _read_all(rerr, timeout)
    finally:
        os.close(rout)
        os.close(rerr)
    return wait(pid), out, err


def _read_all(fd: int, timeout: float) -> str:
    import select

    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        r, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        if not r:
            raise TimeoutError("container output did not finish")
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks).decode()
        chunks.append(chunk)


def sh(bundle, script, **kw):
    cg = kw.pop("cgroup", None)
    return run(bundle, make_spec(["sh", "-c", script], **kw), cgroup=cg)


# ---------------------------------------------------------------------------------------------
# linux.py / seccomp.py units
# ---------------------------------------------------------------------------------------------
def test_caps_table():
    assert linux.CAPS["CAP_CHOWN"] == 0
    assert linux.CAPS["CAP_SYS_ADMIN"] == 21
    assert linux.CAPS["CAP_CHECKPOINT_RESTORE"] == 40
    assert len(linux.CAPS) == 41
    assert linux.cap_mask(linux.DOCKER_DEFAULT_CAPS) == DOCKER_CAPEFF
    assert len(linux.DOCKER_DEFAULT_CAPS) == 14


def test_default_seccomp_profile_compiles():
    prof = seccomp.default_profile()
    assert prof["defaultAction"] == "SCMP_ACT_ERRNO"  # docker's: an allowlist
    allowed = {n for rule in prof["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args")
               for n in rule["names"]}
    for denied in ("mount", "umount2", "unshare", "setns", "kexec_load", "bpf", "pivot_root", "reboot",
                   "io_uring_setup", "personality"):
        assert denied not in allowed
    for needed in ("read", "write", "execve", "chown", "connect"):
        assert needed in allowed
    prog = seccomp.compile_profile(prof)
    assert prog and len(prog) % 8 == 0


def test_seccomp_load_profile_in_child():
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            linux.set_no_new_privs()
            seccomp.load_profile({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["sethostname", "no_such_syscall_xyz"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]})
            try:
                linux.sethostname("x")
            except OSError as exc:
                code = 0 if exc.errno == 38 else 2
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(wait(pid)) == 0


# ---------------------------------------------------------------------------------------------
# start()
# ---------------------------------------------------------------------------------------------
def test_pid1_and_exit_code(bundle):
    status, out, _ = sh(bundle, "echo $$; exit 3")
    assert out.strip() == "1"
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3


def test_hostname_and_cmdline(bundle):
    status, out, _ = sh(bundle, "hostname")
    assert status == 0 and out.strip() == "testhost"
    status, out, _ = run(bundle, make_spec(["cat", "/proc/1/cmdline"]))
    assert status == 0 and out == "cat\0/proc/1/cmdline\0"


def test_host_mounts_invisible(bundle):
    status, out, err = run(bundle, make_spec(["cat", "/proc/mounts"]))
    assert status == 0, err
    points = [line.split()[1] for line in out.splitlines()]
    assert points[0] == "/"
    allowed_roots = ("/proc", "/dev", "/sys")
    for p in points[1:]:
        assert p.startswith(allowed_roots), f"unexpected mount {p} in {points}"
    for p in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/proc/sys", "/proc/keys", "/proc/acpi"):
        assert p in points
    assert not any(bundle in line for line in out.splitlines())


def test_dev_nodes_and_masked_readonly(bundle):
    script = ("ls -l /dev/null | head -c 1; echo; ls /dev; readlink /dev/ptmx; "
              "cat /proc/keys | head -c 5 | wc -c; echo 1 > /proc/sys/kernel/hostname && echo WROTE; "
              "echo x > /dev/null && echo NULLOK; touch /root/f && echo RW")
    status, out, err = sh(bundle, script)
    assert status == 0, err
    lines = out.split("\n")
    assert lines[0] == "c"
    for dev in ("null", "zero", "full", "random", "urandom", "tty", "fd", "stdin", "stdout", "stderr", "ptmx",
                "pts", "shm", "mqueue"):
        assert dev in out.split(), dev
    assert "pts/ptmx" in out
    assert "\n0\n" in out  # masked /proc/keys is empty
    assert "WROTE" not in out and "Read-only" in err
    assert "NULLOK" in out and "RW" in out
    os.unlink(os.path.join(bundle, "rootfs", "root", "f"))


def test_readonly_root(bundle):
    status, out, err = sh(bundle, "touch /x && echo BAD; touch /dev/shm/x && echo SHMOK", readonly=True)
    assert "BAD" not in out and "Read-only file system" in err
    assert "SHMOK" in out


def test_capabilities_docker_default(bundle):
    status, out, err = sh(bundle, "grep -E '^Cap(Eff|Bnd|Prm)' /proc/self/status")
    assert status == 0, err
    fields = dict(line.split(":\t") for line in out.strip().splitlines())
    assert int(fields["CapEff"], 16) == DOCKER_CAPEFF
    assert int(fields["CapBnd"], 16) == DOCKER_CAPEFF
    assert int(fields["CapPrm"], 16) == DOCKER_CAPEFF


def test_non_root_user_and_cwd(bundle):
    status, out, err = sh(bundle, "id -u; id -g; id -G; pwd; grep CapEff /proc/self/status; echo $HOME",
                          user={"uid": 65534, "gid": 65534, "additionalGids": [10, 20]}, cwd="/work/dir")
    assert status == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "65534" and lines[1] == "65534"
    assert set(lines[2].split()) == {"65534", "10", "20"}
    assert lines[3] == "/work/dir"
    assert int(lines[4].split()[1], 16) == 0
    assert lines[5] == "/nonexistent"
    shutil.rmtree(os.path.join(bundle, "rootfs", "work"))


def test_ambient_caps_for_non_root(bundle):
    caps = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
    spec = make_spec(["grep", "CapEff", "/proc/self/status"], user={"uid": 1000, "gid": 1000})
    spec["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    status, out, err = run(bundle, spec)
    assert status == 0, err
    assert int(out.split()[1], 16) == linux.cap_mask(caps)


def test_seccomp_default_profile(bundle):
    status, out, err = sh(bundle, "grep Seccomp: /proc/self/status; unshare -u true && echo UNSHARED; "
                          "mount -t tmpfs t /tmp && echo MOUNTED; echo done",
                          seccomp_profile=seccomp.default_profile())
    assert status == 0, err
    assert "Seccomp:\t2" in out
    assert "UNSHARED" not in out and "MOUNTED" not in out and "done" in out


def test_seccomp_blocks_even_with_sys_admin(bundle):
    caps = linux.DOCKER_DEFAULT_CAPS + ["CAP_SYS_ADMIN"]
    script = "mount -t tmpfs t /tmp && echo MOUNTED; unshare -u true && echo UNSHARED; echo done"
    # control: with CAP_SYS_ADMIN and no seccomp both work
    status, out, _ = sh(bundle, script, caps=caps)
    assert "MOUNTED" in out and "UNSHARED" in out
    for nnp in (False, True):
        status, out, err = sh(bundle, script, caps=caps, seccomp_profile=seccomp.default_profile(), nnp=nnp)
        assert "MOUNTED" not in out and "UNSHARED" not in out and "done" in out, (nnp, out, err)
        assert "Operation not permitted" in err


def test_no_new_privs(bundle):
    status, out, _ = sh(bundle, "grep NoNewPrivs /proc/self/status", nnp=True)
    assert out.split()[1] == "1"


def test_rlimit_applied(bundle):
    status, out, _ = sh(bundle, "ulimit -n")
    assert out.strip() == "1024"


def test_memory_limit_oom_kill(bundle, cgroup):
    cg, _ = cgroup
    limit = 32 * 1024 * 1024
    cg.create({"memory": {"limit": limit, "swap": limit}})
    if cg.v2:
        assert cat(os.path.join(cg.path(), "memory.max")) == str(limit)
    else:
        assert cat(os.path.join(cg.path("memory"), "memory.limit_in_bytes")) == str(limit)
    status, out, err = sh(bundle, "x=$(head -c 400000000 /dev/zero | tr '\\0' a); echo survived",
                          cgroup=cg)
    assert "survived" not in out
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert 128 + os.WTERMSIG(status) == 137
    stats = cg.stats()
    assert stats["memory"]["limit"] == limit
    assert stats["memory"]["oom_kill"] >= 1
    assert stats["cpu"]["total_usage_ns"] > 0


def test_cpu_quota_written(bundle, cgroup):
    cg, _ = cgroup
    cg.create({"cpu": {"quota": 50000, "period": 100000, "shares": 512}})
    if cg.v2:
        assert cat(os.path.join(cg.path(), "cpu.max")).split() == ["50000", "100000"]
    else:
        d = cg.path("cpu")
        assert cat(os.path.join(d, "cpu.cfs_quota_us")) == "50000"
        assert cat(os.path.join(d, "cpu.cfs_period_us")) == "100000"
        assert cat(os.path.join(d, "cpu.shares")) == "512"
    status, out, _ = sh(bundle, "cat /proc/self/cgroup", cgroup=cg)
    assert status == 0 and cg.name in out


def test_pids_limit_enforced(bundle, cgroup):
    cg, _ = cgroup
    cg.create({"pids": {"limit": 8}})
    script = "i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done; echo spawned-all"
    status, out, err = sh(bundle, script, cgroup=cg)
    assert "can't fork" in err or "Resource temporarily unavailable" in err, err
    assert "spawned-all" not in out
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0
    limit_file = os.path.join(cg.path() if cg.v2 else cg.path("pids"), "pids.max")
    assert cat(limit_file) == "8"
    events = cat(os.path.join(cg.path() if cg.v2 else cg.path("pids"), "pids.events"))
    assert int(events.split("max")[-1].split()[0]) > 0


def test_cgroup_pids_kill_all_and_destroy(bundle, cgroup):
    cg, _ = cgroup
    cg.create({"pids": {"limit": 100}, "memory": {"limit": 64 << 20}})
    rout, wout = os.pipe()
    pid = native.start(make_spec(["sh", "-c", "sleep 100 & sleep 100 & echo ready; wait"]), bundle,
                       0, wout, wout, cgroup=cg)
    os.close(wout)
    try:
        assert os.read(rout, 100).strip() == b"ready"
        pids = cg.pids()
        assert pid in pids and len(pids) == 3
        assert cg.stats()["pids"]["current"] == 3
        cg.kill_all(signal.SIGKILL)
        status = wait(pid)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    finally:
        os.close(rout)
    cg.destroy()
    assert not cg.exists()


def test_command_not_found(bundle):
    with pytest.raises(CommandNotFound) as ei:
        run(bundle, make_spec(["nosuchcmd", "x"]))
    assert str(ei.value) == 'exec: "nosuchcmd": executable file not found in $PATH'
    assert ei.value.exit_code == 127
    with pytest.raises(CommandNotFound) as ei:
        run(bundle, make_spec(["/nosuch"]))
    assert str(ei.value) == 'exec: "/nosuch": stat /nosuch: no such file or directory'


def test_path_from_spec_env_not_host(bundle):
    # `sh` exists in /bin only; a PATH without /bin must not find it
    with pytest.raises(CommandNotFound):
        run(bundle, make_spec(["sh", "-c", "true"], env=["PATH=/usr/bin"]))


def test_cannot_run(bundle):
    with pytest.raises(ContainerCannotRun) as ei:
        run(bundle, make_spec(["/etc"]))
    assert str(ei.value) == 'exec: "/etc": permission denied'
    assert ei.value.exit_code == 126
    with pytest.raises(ContainerCannotRun):
        run(bundle, make_spec(["/notexec.sh"]))


def test_step_error_named(bundle):
    spec = make_spec(["true"], mounts_extra=[{"destination": "/mnt", "type": "nosuchfs", "source": "x"}])
    with pytest.raises(EngineError) as ei:
        run(bundle, spec)
    assert "mount nosuchfs to /mnt" in str(ei.value)
    assert ei.value.step == "mount nosuchfs to /mnt"


def test_bind_mounts_ro_and_file(bundle, tmp_path):
    (tmp_path / "vol").mkdir()
    (tmp_path / "vol" / "data").write_text("hello")
    (tmp_path / "single").write_text("file!")
    extra = [
        {"destination": "/data", "type": "bind", "source": str(tmp_path / "vol"), "options": ["rbind", "ro"]},
        {"destination": "/etc/single", "type": "bind", "source": str(tmp_path / "single"), "options": ["bind"]},
    ]
    status, out, err = sh(bundle, "cat /data/data; echo; cat /etc/single; echo; touch /data/x && echo BAD",
                          mounts_extra=extra)
    assert out.splitlines()[:2] == ["hello", "file!"]
    assert "BAD" not in out and "Read-only" in err
    os.unlink(os.path.join(bundle, "rootfs", "etc", "single"))
    os.rmdir(os.path.join(bundle, "rootfs", "data"))


def test_tty(bundle):
    master, slave = os.openpty()
    try:
        spec = make_spec(["sh", "-c", "test -t 0 && test -t 1 && echo ISTTY; cut -d' ' -f7 /proc/self/stat"])
        spec["process"]["terminal"] = True
        pid = native.start(spec, bundle, 0, 1, 2, tty_slave=slave)
        os.close(slave)
        slave = -1
        data = b""
        while True:
            try:
                chunk = os.read(master, 1024)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        assert wait(pid) == 0
        assert b"ISTTY" in data
        assert int(data.split()[-1]) != 0  # a controlling terminal (tty_nr)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_start_is_fast(bundle):
    t0 = time.monotonic()
    pid = native.start(make_spec(["true"], namespaces=[{"type": "pid"}, {"type": "mount"}, {"type": "uts"},
                                                      {"type": "ipc"}]), bundle, 0, 1, 2)
    elapsed = time.monotonic() - t0
    assert wait(pid) == 0
    assert elapsed < 0.5


def test_waitpid_with_subreaper(bundle):
    linux.set_child_subreaper()
    try:
        status, out, _ = sh(bundle, "exit 7")
        assert os.WEXITSTATUS(status) == 7
    finally:
        linux.set_child_subreaper(False)


def test_exec_process(bundle, cgroup):
    cg, _ = cgroup
    cg.create({"pids": {"limit": 50}})
    prof = seccomp.default_profile()
    spec = make_spec(["sleep", "60"], seccomp_profile=prof)
    init = native.start(spec, bundle, 0, 1, 2, cgroup=cg)
    try:
        rout, wout = os.pipe()
        proc = {"args": ["sh", "-c", "hostname; echo $$; cat /proc/1/cmdline; echo; ls /proc | grep -c '^[0-9]';"
                         "grep -E 'Seccomp:|CapEff' /proc/self/status; pwd; id -u"],
                "env": ["PATH=/bin"], "cwd": "/tmp", "user": {"uid": 0, "gid": 0},
                "capabilities": spec["process"]["capabilities"]}
        pid = native.exec_process(init, proc, 0, wout, 2, cgroup=cg, seccomp=prof)
        os.close(wout)
        out = _read_all(rout, 10)
        os.close(rout)
        assert wait(pid) == 0
        lines = out.splitlines()
        assert lines[0] == "testhost"
        assert int(lines[1]) > 1
        assert lines[2] == "sleep\x0060\x00"
        assert int(lines[3]) >= 2
        assert "Seccomp:\t2" in out
        assert f"{DOCKER_CAPEFF:016x}" in out
        assert lines[-2] == "/tmp" and lines[-1] == "0"
        # exec errors are reported like start's
        with pytest.raises(CommandNotFound):
            native.exec_process(init, {"args": ["nope"], "env": ["PATH=/bin"], "cwd": "/"}, 0, 1, 2, cgroup=cg)
    finally:
        os.kill(init, signal.SIGKILL)
        wait(init)


def test_join_existing_namespace_by_path(bundle):
    init = native.start(make_spec(["sleep", "60"], hostname="shared"), bundle, 0, 1, 2)
    try:
        spec = make_spec(["hostname"], hostname=None,
                         namespaces=[{"type": "pid"}, {"type": "mount"},
                                     {"type": "uts", "path": f"/proc/{init}/ns/uts"}])
        status, out, _ = run(bundle, spec)
        assert status == 0 and out.strip() == "shared"
    finally:
        os.kill(init, signal.SIGKILL)
        wait(init)


def test_start_from_worker_thread(bundle):
    """unshare(CLONE_NEWPID) only touches the calling thread; the engine may start from any thread."""
    import threading

    result = {}

    def worker():
        try:
            result["pid"] = native.start(make_spec(["sh", "-c", "exit $$"]), bundle, 0, 1, 2)
        except BaseException as exc:  # pragma: no cover - reported below
            result["exc"] = exc

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert "exc" not in result, result.get("exc")
    status = wait(result["pid"])
    assert os.WEXITSTATUS(status) == 1  # $$ == 1: it got its own pid namespace
    # the main thread's and this thread's pid_for_children are still the host's
    assert os.readlink("/proc/thread-self/ns/pid_for_children") == os.readlink("/proc/self/ns/pid")
    status, out, _ = sh(bundle, "echo $$")
    assert out.strip() == "1"


def test_cgroup_v2_hierarchy():
    """The v2 code path, on a pure-v2 host's /sys/fs/cgroup or a hybrid host's /sys/fs/cgroup/unified."""
    if cgroups.detect() == "v2":
        root = cgroups.ROOT
    elif os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers"):
        root = "/sys/fs/cgroup/unified"
    else:
        pytest.skip("no cgroup2 hierarchy mounted on this host")
    parent = f"portside-test-{uuid.uuid4().hex[:8]}"
    cg = cgroups.Cgroup(f"{parent}/c1", root=root)
    assert cg.mode == "v2"
    available = cat(os.path.join(root, "cgroup.controllers")).split()
    pid = None
    try:
        if "memory" not in available:
            with pytest.raises(KernelFeatureMissing):
                cg.create({"memory": {"limit": 1 << 25}})
            cg.create({})
        else:
            cg.create({"memory": {"limit": 1 << 25, "swap": 1 << 25}, "pids": {"limit": 5}})
            assert cat(os.path.join(cg.path(), "memory.max")) == str(1 << 25)
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        cg.add(pid)
        assert cg.pids() == [pid]
        stats = cg.stats()
        assert set(stats) == {"memory", "cpu", "pids", "blkio"}
        cg.kill_all(signal.SIGKILL)
        assert os.WTERMSIG(wait(pid)) == signal.SIGKILL
        pid = None
        cg.destroy()
        assert not cg.exists()
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            wait(pid)
        if cg.exists():
            cg.destroy()
        if os.path.isdir(os.path.join(root, parent)):
            os.rmdir(os.path.join(root, parent))
