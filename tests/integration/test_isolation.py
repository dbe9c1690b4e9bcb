"""Isolation of containers and build steps, and the clear refusals of bad resource and mount options.

Real containers and builds as root (fixtures ``root``, ``cli``, ``imported`` from ``conftest.py``).
The seccomp probes run a tiny static C program (compiled here with ``gcc -static``) bind-mounted
into the busybox image.
"""

from __future__ import annotations

import glob
import json
import os
import re
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from subprocess import CompletedProcess
from typing import Any

import pytest

from conftest import mounts_under

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

Cli = Callable[..., CompletedProcess[str]]
HERE = os.path.dirname(os.path.abspath(__file__))
# From a container on a bridge: a hand-made TCP SYN to 127.0.0.1:PORT sent to the gateway's MAC (raw
# socket, CAP_NET_RAW is a default capability); prints SYN-ACK, RST or no-answer.
RAW_SYN = ('GW=$(ip route | awk "/default/ {print \\$3}"); ping -c1 -W1 $GW >/dev/null; '
           'MAC=$(awk -v gw=$GW "\\$1==gw {print \\$4}" /proc/net/arp); '
           'IP=$(ip -4 addr show eth0 | awk "/inet / {split(\\$2,a,\\"/\\"); print a[1]}"); /t/raw PORT $MAC $IP')

PROBE_C = r"""
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/personality.h>
static void report(const char *name, long r, int e) {
    printf("%s %s\n", name, r < 0 ? (e == EPERM ? "EPERM" : "other-error") : "allowed");
}
int main(void) {
    long r;
    errno = 0; r = syscall(SYS_io_uring_setup, 1, (void *)0); report("io_uring_setup", r, errno);
    errno = 0; r = personality(0x0040000); report("personality_addr_no_randomize", r, errno);
    errno = 0; r = personality(0xffffffff); report("personality_query", r, errno);
    return 0;
}
"""


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def one_line_error(proc: CompletedProcess[str], code: int = 125) -> str:
    assert proc.returncode == code, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def no_containers(cli: Cli) -> None:
    proc = cli("ps", "-aq")
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout


class Listener:
    """A TCP listener on the host's 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener()
    try:
        yield lst
    finally:
        lst.close()


@pytest.fixture
def ctx(tmp_path: Any) -> str:
    path = tmp_path / "ctx"
    path.mkdir()
    return str(path)


def build(cli: Cli, ctx: str, dockerfile: str, *args: str) -> CompletedProcess[str]:
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write(dockerfile)
    return cli("build", *args, ctx, timeout=120)


def run_ids(proc: CompletedProcess[str]) -> list[str]:
    """The short ids of the build's RUN containers (`` ---> Running in <id>``)."""
    return re.findall(r"---> Running in ([0-9a-f]{12})", proc.stdout)


def assert_run_left_nothing(root: str, short: str) -> None:
    """No veth, cgroup, address allocation or mount of the RUN container ``short`` remains."""
    assert not glob.glob(f"/sys/class/net/ps{short[:10]}*"), "veth left behind"
    assert not glob.glob(f"/sys/fs/cgroup/portside/build-{short}*") and \
        not glob.glob(f"/sys/fs/cgroup/*/portside/build-{short}*"), "cgroup left behind"
    db = sqlite3.connect(os.path.join(root, "state.db"))
    try:
        rows = db.execute("SELECT container_id FROM ip_allocations WHERE container_id LIKE ?",
                          (short + "%",)).fetchall()
    finally:
        db.close()
    assert rows == [], "IP allocation left behind"
    assert [m for m in mounts_under(root) if "/tmp/" in m] == [], "mount left behind"
    assert not glob.glob(os.path.join(root, "containers", f".{short}*.creating"))


# ---------------------------------------------------------------------------------------------
# build RUN steps
# ---------------------------------------------------------------------------------------------
def test_run_step_cannot_reach_a_loopback_service_of_the_host(cli: Cli, imported: str, ctx: str, root: str,
                                                              listener: Listener) -> None:
    """RUN steps ran in the host's network namespace: a RUN reached a service bound to the host's
    127.0.0.1. Now RUN has its own namespace on the default bridge, as docker's builder."""
    proc = build(cli, ctx, "FROM busybox\n"
                           f"RUN if nc -w 1 127.0.0.1 {listener.port} </dev/null; then echo RE''ACHED; "
                           f"else echo bl''ocked; fi\n"
                           "RUN cut -d: -f1 /proc/net/dev | tr -d ' ' > /ifaces\n", "-t", "isolated")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "blocked" in proc.stdout and "REACHED" not in proc.stdout
    assert listener.accepted == 0
    ifaces = cli("run", "--rm", "--network", "none", "isolated", "cat", "/ifaces").stdout.split()
    assert "lo" in ifaces and "eth0" in ifaces  # on the bridge, as docker's default
    for short in run_ids(proc):
        assert_run_left_nothing(root, short)


def test_build_network_none_and_host(cli: Cli, imported: str, ctx: str, root: str, listener: Listener) -> None:
    """``build --network none`` leaves RUN only a loopback; ``--network host`` is docker's explicit opt-in
    to the host's namespace (and does reach the listener: the probe above can see a connection)."""
    proc = build(cli, ctx, "FROM busybox\n"
                           f"RUN nc -w 1 127.0.0.1 {listener.port} </dev/null || echo bl''ocked\n"
                           "RUN cut -d: -f1 /proc/net/dev | tr -d ' ' > /ifaces\n",
                 "--network", "none", "-t", "nonet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "blocked" in proc.stdout and listener.accepted == 0
    ifaces = cli("run", "--rm", "--network", "none", "nonet", "cat", "/ifaces").stdout.split()
    assert "lo" in ifaces and "eth0" not in ifaces
    proc = build(cli, ctx, "FROM busybox\n"
                           f"RUN nc -w 1 127.0.0.1 {listener.port} </dev/null && echo conn''ected\n",
                 "--network", "host", "--no-cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "connected" in proc.stdout and listener.accepted == 1
    for short in run_ids(proc):
        assert_run_left_nothing(root, short)


def test_host_loopback_unreachable_with_hand_made_packets(cli: Cli, imported: str, probe_dir: str,
                                                          listener: Listener) -> None:
    """The bridges have ``route_localnet`` (for the host's own 127.0.0.1:<published port>), so a container
    (or a RUN step on the bridge) could reach a loopback-only service of the host by sending packets for
    127.0.0.1 to the gateway: the host answered with a SYN-ACK. Such packets are now dropped."""
    proc = cli("run", "--rm", "-v", f"{probe_dir}:/t:ro", "busybox", "sh", "-c",
               RAW_SYN.replace("PORT", str(listener.port)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "no-answer", proc.stdout


def test_run_step_loopback_unreachable_with_hand_made_packets(cli: Cli, imported: str, probe_dir: str,
                                                              ctx: str, listener: Listener) -> None:
    os.makedirs(os.path.join(ctx, "t"))
    with open(os.path.join(probe_dir, "raw"), "rb") as src, open(os.path.join(ctx, "t", "raw"), "wb") as dst:
        dst.write(src.read())
    os.chmod(os.path.join(ctx, "t", "raw"), 0o755)
    with open(os.path.join(ctx, "t", "probe.sh"), "w") as f:
        f.write(RAW_SYN.replace("PORT", str(listener.port)) + "\n")
    proc = build(cli, ctx, "FROM busybox\nCOPY t /t\nRUN sh /t/probe.sh > /answer\n", "-t", "rawprobe")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    answer = cli("run", "--rm", "--network", "none", "rawprobe", "cat", "/answer").stdout.strip()
    assert answer == "no-answer", answer


def test_build_network_unknown_is_refused(cli: Cli, imported: str, ctx: str) -> None:
    proc = build(cli, ctx, "FROM busybox\nRUN true\n", "--network", "mars")
    line = one_line_error(proc, 1)
    assert '"mars"' in line and "none" in line


def test_run_step_has_its_own_cgroup_removed_afterwards(cli: Cli, imported: str, ctx: str, root: str) -> None:
    """RUN steps ran in the engine's own (root) cgroup; now each has its own, removed when it ends."""
    with open("/proc/self/cgroup") as f:
        ours = f.read().strip()
    proc = build(cli, ctx, "FROM busybox\nRUN cat /proc/self/cgroup > /cg\n", "-t", "cg")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    inside = cli("run", "--rm", "--network", "none", "cg", "cat", "/cg").stdout.strip()
    (short,) = run_ids(proc)
    assert inside != ours
    assert f"portside/build-{short}" in inside
    assert_run_left_nothing(root, short)


def test_failed_run_step_leaves_nothing(cli: Cli, imported: str, ctx: str, root: str) -> None:
    """A failing RUN (non-zero exit, with a process left in the background) leaves no veth, cgroup,
    address or mount behind."""
    proc = build(cli, ctx, "FROM busybox\nRUN sleep 30 & exit 3\n")
    assert proc.returncode != 0
    assert "returned a non-zero code: 3" in proc.stderr
    (short,) = run_ids(proc)
    assert_run_left_nothing(root, short)


def test_run_step_is_confined_like_a_container(cli: Cli, imported: str, ctx: str) -> None:
    """RUN gets docker's confinement: default capabilities, masked paths, the seccomp filter."""
    proc = build(cli, ctx, "FROM busybox\n"
                           "RUN grep -E '^(CapBnd|Seccomp):' /proc/self/status > /status; "
                           "wc -c < /proc/interrupts > /masked\n", "-t", "confined")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = cli("run", "--rm", "--network", "none", "confined", "cat", "/status", "/masked").stdout
    assert re.search(r"CapBnd:\s+00000000a80425fb", status), status
    assert re.search(r"Seccomp:\s+2", status), status
    assert status.split()[-1] == "0"


# ---------------------------------------------------------------------------------------------
# seccomp
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def probe_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("probe")
    src = d / "probe.c"
    src.write_text(PROBE_C)
    try:
        res = subprocess.run(["gcc", "-static", "-O1", "-o", str(d / "probe"), str(src)], capture_output=True,
                             text=True, timeout=120)
    except FileNotFoundError:
        pytest.skip("needs gcc")
    if res.returncode != 0:
        pytest.skip(f"gcc -static failed: {res.stderr[-300:]}")
    os.unlink(src)
    res = subprocess.run(["gcc", "-static", "-O1", "-o", str(d / "raw"), os.path.join(HERE, "raw_syn_probe.c")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return str(d)


def probe(cli: Cli, probe_dir: str, *flags: str) -> dict[str, str]:
    proc = cli("run", "--rm", "--network", "none", "-v", f"{probe_dir}:/t:ro", *flags, "busybox", "/t/probe")
    assert proc.returncode == 0, proc.stderr
    return dict(line.split() for line in proc.stdout.splitlines())


def test_default_seccomp_denies_what_docker_denies(cli: Cli, imported: str, probe_dir: str) -> None:
    """The default filter was a denylist that let io_uring_setup and personality(ADDR_NO_RANDOMIZE)
    through; docker's default profile (an allowlist) refuses both with EPERM."""
    got = probe(cli, probe_dir)
    assert got["io_uring_setup"] == "EPERM"
    assert got["personality_addr_no_randomize"] == "EPERM"
    assert got["personality_query"] == "allowed"  # personality(0xffffffff) is on docker's list


def test_seccomp_unconfined_lets_them_through(cli: Cli, imported: str, probe_dir: str) -> None:
    got = probe(cli, probe_dir, "--security-opt", "seccomp=unconfined")
    assert got["io_uring_setup"] == "other-error"  # EFAULT: the call reached the kernel
    assert got["personality_addr_no_randomize"] == "allowed"


def test_ordinary_work_under_the_default_filter(cli: Cli, imported: str) -> None:
    script = ("set -e; ls / >/dev/null; mkdir -p /srv/www; echo hello > /srv/www/index.html; "
              "chown 1000:1000 /srv/www/index.html; httpd -p 127.0.0.1:8080 -h /srv/www; "
              "wget -q -O- http://127.0.0.1:8080/index.html; su -s /bin/sh -c 'id -u' app; "
              "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status")
    proc = cli("run", "--rm", "--network", "none", "busybox", "sh", "-c", script)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "hello" in proc.stdout and "1000" in proc.stdout
    assert re.search(r"Seccomp:\s+2", proc.stdout) and re.search(r"NoNewPrivs:\s+0", proc.stdout)


def test_custom_seccomp_profile_is_honoured_and_shown(cli: Cli, imported: str, tmp_path: Any) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}))
    proc = cli("run", "--name", "prof", "--network", "none", "--security-opt", f"seccomp={profile}",
               "--security-opt", "no-new-privileges", "busybox", "sh", "-c",
               "mkdir /x 2>&1; grep NoNewPrivs /proc/self/status")
    assert proc.returncode == 0, proc.stderr
    assert "Permission denied" in proc.stdout  # errnoRet 13 = EACCES, from the profile
    assert re.search(r"NoNewPrivs:\s+1", proc.stdout)
    opts = json.loads(cli("inspect", "prof").stdout)[0]["HostConfig"]["SecurityOpt"]
    assert "no-new-privileges" in opts
    (sec,) = [o for o in opts if o.startswith("seccomp=")]
    assert json.loads(sec[len("seccomp="):])["syscalls"][0]["names"] == ["mkdir", "mkdirat"]


def test_no_new_privileges_false_and_unconfined_shown(cli: Cli, imported: str) -> None:
    proc = cli("create", "--name", "unconf", "--network", "none", "--security-opt", "seccomp=unconfined",
               "--security-opt", "no-new-privileges=false", "busybox", "true")
    assert proc.returncode == 0, proc.stderr
    opts = json.loads(cli("inspect", "unconf").stdout)[0]["HostConfig"]["SecurityOpt"]
    assert opts == ["seccomp=unconfined", "no-new-privileges=false"]


@pytest.mark.parametrize("content,needle", [
    (None, "opening seccomp profile"),
    ("{not json", "seccomp profile"),
    ('{"defaultAction": "SCMP_ACT_DANCE"}', "SCMP_ACT_DANCE"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", '
     '"args": [{"index": 0, "value": 1, "op": "SCMP_CMP_NEARLY"}]}]}', "SCMP_CMP_NEARLY"),
])
def test_bad_seccomp_profile_is_one_line_error(cli: Cli, imported: str, tmp_path: Any, content: str | None,
                                               needle: str) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    line = one_line_error(cli("run", "--rm", "--network", "none", "--security-opt", f"seccomp={path}",
                              "busybox", "true"))
    assert needle in line
    no_containers(cli)


@pytest.mark.parametrize("opt", ["bogus", "no-new-privileges=maybe", "color=blue"])
def test_bad_security_opt_is_refused(cli: Cli, imported: str, opt: str) -> None:
    line = one_line_error(cli("create", "--network", "none", "--security-opt", opt, "busybox", "true"))
    assert "invalid --security-opt" in line and opt in line
    no_containers(cli)


# ---------------------------------------------------------------------------------------------
# bind mounts
# ---------------------------------------------------------------------------------------------
def test_bind_mounted_dev_gets_nothing_the_container_did_not_write(cli: Cli, imported: str, tmp_path: Any) -> None:
    """``-v hostdir:/dev`` used to fill the host directory with device nodes and symlinks (null, zero,
    fd, stdin, ptmx, …) that stayed after the container was gone."""
    host_dir = tmp_path / "dev"
    host_dir.mkdir()
    proc = cli("run", "--rm", "--network", "none", "-v", f"{host_dir}:/dev", "busybox", "sh", "-c",
               "echo mine > /dev/written; wc -c < /proc/interrupts")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0"  # masking still works without a /dev/null in the container
    assert sorted(os.listdir(host_dir)) == ["written"]


@pytest.mark.parametrize("dest,needle", [
    ("/", "destination can't be '/'"),
    ("/proc", '"/proc" cannot be mounted because it is not of type proc'),
    ("/proc/sys", '"/proc/sys" cannot be mounted because it is inside /proc'),
    ("/dev/null", "cannot mount directory"),
    ("/etc/passwd", "cannot mount directory"),
    ("/sys/firmware", "/sys/firmware is masked in containers"),
    ("/sys/firmware/efi", "/sys/firmware is masked in containers"),
])
def test_refused_bind_destinations(cli: Cli, imported: str, tmp_path: Any, dest: str, needle: str) -> None:
    """``-v x:/`` and ``-v x:/proc`` were accepted; a directory onto /dev/null failed at start with
    ``mask /proc/interrupts: not a directory``. Refused at create; the missing source is not made."""
    src = tmp_path / "never-made"
    line = one_line_error(cli("run", "--rm", "--network", "none", "-v", f"{src}:{dest}", "busybox", "true"))
    assert needle in line
    assert not src.exists()
    no_containers(cli)


def test_volume_onto_a_file_is_refused_and_not_made(cli: Cli, imported: str) -> None:
    line = one_line_error(cli("create", "--network", "none", "-v", "somevol:/etc/passwd", "busybox", "true"))
    assert "cannot mount volume somevol onto /etc/passwd" in line
    assert cli("volume", "ls", "-q").stdout.strip() == ""
    no_containers(cli)


def test_file_onto_directory_is_refused(cli: Cli, imported: str, tmp_path: Any) -> None:
    src = tmp_path / "file"
    src.write_text("x")
    line = one_line_error(cli("create", "--network", "none", "-v", f"{src}:/etc", "busybox", "true"))
    assert "cannot mount file" in line and "/etc" in line
    no_containers(cli)


# ---------------------------------------------------------------------------------------------
# resources and ports
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flags,needle", [
    (("--cpus", "0.0001"), "Range of CPUs is from 0.01 to"),
    (("--cpus", "-1"), "Range of CPUs is from 0.01 to"),
    (("--memory", "99999999999999999999"), "out of range"),
    (("--memory", "1k"), "Minimum memory limit allowed is 6MB"),
])
def test_bad_resources_are_one_line_errors(cli: Cli, imported: str, root: str, flags: tuple[str, ...],
                                           needle: str) -> None:
    """``--cpus 0.0001`` failed at start with a raw cgroup write error; ``--cpus -1`` and a memory limit
    beyond int64 were accepted."""
    line = one_line_error(cli("run", "--rm", "--network", "none", *flags, "busybox", "true"))
    assert needle in line
    no_containers(cli)
    assert not [d for d in os.listdir(os.path.join(root, "containers")) if not d.startswith(".")]


def test_publish_host_port_zero_picks_a_free_port(cli: Cli, imported: str) -> None:
    """``-p 0:80`` was refused; docker picks a free host port for host port 0."""
    proc = cli("run", "-d", "--name", "web", "-p", "127.0.0.1:0:80", "busybox",
               "httpd", "-f", "-p", "80", "-h", "/etc")
    assert proc.returncode == 0, proc.stderr
    ports = cli("port", "web", "80/tcp")
    assert ports.returncode == 0, ports.stderr
    host, _, port = ports.stdout.strip().splitlines()[0].rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
    with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as s:
        s.sendall(b"GET /hostname HTTP/1.0\r\n\r\n")
        assert b"200" in s.recv(4096)
