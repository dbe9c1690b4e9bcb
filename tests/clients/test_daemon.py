"""``portside daemon`` as users run it: detached, on several sockets, on tcp with TLS, killed and
started again; and what it does with bad input and with clients that go away mid-stream.

Real clients only: the docker CLI 28, raw sockets, a real unprivileged user (``nobody`` via setpriv).
Daemons started here with ``-d`` are stopped by the pid in their own pid file.
"""

from __future__ import annotations

import grp
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Daemon  # tests/clients/conftest.py



def _clients_conftest() -> Any:
    """tests/clients/conftest.py's helpers, by path (a bare ``import conftest`` may find another)."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conftest.py")
    spec = importlib.util.spec_from_file_location("portside_clients_helpers", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_C = _clients_conftest()
DOCKER_CLI, IT, answers, run_cli, teardown_root = _C.DOCKER_CLI, _C.IT, _C.answers, _C.run_cli, _C.teardown_root

pytestmark = pytest.mark.root

NONE = ("--network", "none")


# -- helpers ---------------------------------------------------------------------------------------
class Detached:
    """A ``portside daemon -d`` over one data root: its sockets, pid file and log file under ``base``."""

    def __init__(self, base: str, root: str, name: str) -> None:
        self.base, self.root, self.name = base, root, name
        self.sock = os.path.join(base, f"{name}.sock")
        self.pidfile = os.path.join(base, f"{name}.pid")
        self.log = os.path.join(base, f"{name}.log")

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    def start(self, *extra: str, hosts: tuple[str, ...] | None = None) -> subprocess.CompletedProcess[str]:
        h: list[str] = []
        for host in hosts or (self.host,):
            h += ["-H", host]
        return run_cli(self.root, "daemon", "-d", *h, "--pidfile", self.pidfile, "--log-file", self.log, *extra,
                       timeout=60)  # type: ignore[no-any-return]

    def pid(self) -> int:
        with open(self.pidfile) as f:
            return int(f.read())

    def docker(self, *args: str, env: dict[str, str] | None = None, host: str | None = None,
               timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess[str]:
        full = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        full.update(DOCKER_HOST=host or self.host, DOCKER_CONFIG=os.path.join(self.base, "docker-config"))
        full.update(env or {})
        return subprocess.run([DOCKER_CLI, *args], env=full, capture_output=True, text=True, timeout=timeout,
                              input=input, stdin=subprocess.DEVNULL if input is None else None)

    def ok(self, *args: str, **kw: Any) -> str:
        p = self.docker(*args, **kw)
        assert p.returncode == 0, f"docker {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
        return p.stdout

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the daemon by the pid in its pid file (it is no child of ours: wait for /proc to forget it)."""
        try:
            pid = self.pid()
        except (FileNotFoundError, ValueError):
            return
        if not is_our_daemon(pid):
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + 20
        while os.path.exists(f"/proc/{pid}") and not zombie(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 10
            time.sleep(0.02)


def is_our_daemon(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return b"tui.cli" in argv and b"daemon" in argv


def zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture
def detached() -> Iterator[Callable[[str], Detached]]:
    """Makes :class:`Detached` daemons over one fresh data root holding ``busybox``; stops them all."""
    if os.geteuid() != 0:
        pytest.skip("needs root (real containers)")
    if not DOCKER_CLI:
        pytest.skip("no docker CLI")
    base = tempfile.mkdtemp(prefix="ps-dmn-", dir="/tmp")  # short: unix socket paths stay < 108 bytes
    root = os.path.join(base, "root")
    made: list[Detached] = []
    try:
        p = run_cli(root, "image", "busybox")
        assert p.returncode == 0, p.stderr

        def make(name: str) -> Detached:
            d = Detached(base, root, name)
            made.append(d)
            return d
        yield make
    finally:
        for d in made:
            d.stop()
        teardown_root(root)
        import shutil
        shutil.rmtree(base, ignore_errors=True)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def make_certs(d: str) -> tuple[str, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as ``docker --tlsverify`` wants
    them: returns (server dir, client dir), each holding ca.pem, cert.pem, key.pem."""
    srv, cli = os.path.join(d, "server"), os.path.join(d, "client")
    os.makedirs(srv)
    os.makedirs(cli)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)
    ca_key, ca = os.path.join(d, "ca-key.pem"), os.path.join(d, "ca.pem")
    ssl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=portside test CA")
    for where, cn, ext, serial in ((srv, "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                    "extendedKeyUsage=serverAuth\n", "1"),
                                   (cli, "client", "extendedKeyUsage=clientAuth\n", "2")):
        extfile = os.path.join(where, "ext.cnf")
        with open(extfile, "w") as f:
            f.write(ext)
        csr = os.path.join(where, "req.csr")
        ssl("req", *ec, "-keyout", os.path.join(where, "key.pem"), "-out", csr, "-subj", f"/CN={cn}")
        ssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-set_serial", serial, "-days", "2",
            "-extfile", extfile, "-out", os.path.join(where, "cert.pem"))
        with open(ca, "rb") as src, open(os.path.join(where, "ca.pem"), "wb") as dst:
            dst.write(src.read())
    return srv, cli


def raw(sock_path: str, data: bytes, *, timeout: float = 10) -> bytes:
    """Send ``data`` on a fresh connection; everything the daemon answers until it closes the connection."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(sock_path)
    try:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    finally:
        s.close()


def http_answer(sock_path: str, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(10)
            self.sock.connect(sock_path)
    conn = Conn("localhost")
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def fds_of(pid: int, prefix: str) -> list[str]:
    """The targets of ``pid``'s open descriptors that start with ``prefix`` (``pipe:``, a path…)."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(prefix):
            out.append(target)
    return out


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 20) -> None:
    """Wait until ``cond()``; a guard against hanging, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


# -- starting and stopping -------------------------------------------------------------------------
def test_detach_returns_once_serving_and_stops_by_its_pid_file(detached: Callable[[str], Detached]) -> None:
    d = detached("a")
    p = d.start()
    assert p.returncode == 0, p.stderr
    assert p.stdout == "" and p.stderr == ""  # detached: it says nothing when all is well
    assert answers(d.sock)  # it serves by the time -d returns
    pid = d.pid()
    assert is_our_daemon(pid)
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ppid, session = int(fields[1]), int(fields[3])
    assert session != os.getsid(0) and session != pid  # a session of its own, which it does not lead
    assert ppid != os.getpid()  # not a child of ours: the double fork handed it on
    st = os.stat(d.sock)
    assert st.st_mode & 0o777 == 0o660 and st.st_gid == grp.getgrnam("portside").gr_gid
    assert d.ok("version", "--format", "{{.Server.APIVersion}}").strip() == "1.50"
    with open(d.log) as f:
        assert f"portside daemon: API listening on {d.host} (pid {pid})" in f.read()

    again = d.start()  # a second daemon on the same socket: one line, exit 1, the first one untouched
    assert again.returncode == 1
    assert again.stderr == f"portside daemon: another daemon is already serving {d.host}\n"
    assert d.pid() == pid and answers(d.sock)

    d.stop()
    assert not os.path.exists(d.sock) and not os.path.exists(d.pidfile)
    with open(d.log) as f:
        assert f.read().endswith("portside daemon: stopped (containers keep running)\n")


def test_several_hosts_and_tcp_with_tls_through_the_docker_cli(detached: Callable[[str], Detached]) -> None:
    d = detached("tls")
    srv, cli = make_certs(os.path.join(d.base, "certs"))
    port = free_port()
    other = os.path.join(d.base, "other.sock")
    tcp = f"tcp://127.0.0.1:{port}"
    p = d.start("--tlsverify", "--tlscacert", f"{srv}/ca.pem", "--tlscert", f"{srv}/cert.pem",
                "--tlskey", f"{srv}/key.pem", hosts=(d.host, f"unix://{other}", tcp))
    assert p.returncode == 0, p.stderr
    cid = d.ok("run", "-d", *NONE, "busybox", "sleep", "60").strip()
    tls_env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": cli}
    for host, env in ((d.host, {}), (f"unix://{other}", {}), (tcp, tls_env)):
        assert d.ok("ps", "-q", "--no-trunc", host=host, env=env).split() == [cid], host
    assert d.ok("version", "--format", "{{.Server.APIVersion}}", host=tcp, env=tls_env).strip() == "1.50"
    # the hijacked streams over TLS: attach with stdin (run -i), exec
    assert d.ok("run", "--rm", "-i", *NONE, "busybox", "cat", host=tcp, env=tls_env, input="over tls\n") == \
        "over tls\n"
    assert d.ok("exec", cid, "echo", "exec over tls", host=tcp, env=tls_env) == "exec over tls\n"

    # a client without a certificate the CA signed is turned away, and so is plain http
    nocert = os.path.join(d.base, "nocert")
    os.makedirs(nocert)
    with open(f"{cli}/ca.pem", "rb") as src, open(f"{nocert}/ca.pem", "wb") as dst:
        dst.write(src.read())
    import ssl

    def over_tls(cert: bool) -> bytes:
        ctx = ssl.create_default_context(cafile=f"{nocert}/ca.pem")
        if cert:
            ctx.load_cert_chain(f"{cli}/cert.pem", f"{cli}/key.pem")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
                    t.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    return t.recv(100)
        except (ssl.SSLError, ConnectionError):
            return b""
    assert over_tls(cert=True).startswith(b"HTTP/1.1 200 OK")
    assert over_tls(cert=False) == b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := s.recv(100):
            answer += chunk
        assert answer == b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    assert d.ok("ps", "-q", "--no-trunc", host=tcp, env=tls_env).split() == [cid]  # and it still serves
    d.ok("rm", "-f", cid)


@pytest.mark.parametrize("host", ["tcp://127.0.0.1:{port}", "127.0.0.1:{port}"])
def test_plain_tcp_is_refused_at_start(detached: Callable[[str], Detached], host: str) -> None:
    d = detached("plain")
    port = free_port()
    address = host.format(port=port)
    p = run_cli(d.root, "daemon", "-H", d.host, "-H", address, "--pidfile", d.pidfile, timeout=30)
    assert p.returncode == 1
    assert p.stderr == (f"portside daemon: {address}: plain tcp is refused (anyone who can reach it would control "
                        f"this host): add --tlsverify --tlscacert --tlscert --tlskey, or serve on a unix socket\n")
    assert p.stdout == ""
    assert not os.path.exists(d.sock) and not os.path.exists(d.pidfile)  # nothing served, not even the unix socket
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    detach = d.start(hosts=(address,))
    assert detach.returncode == 1 and detach.stderr.count("\n") == 1 and "plain tcp is refused" in detach.stderr


def test_tls_files_missing_or_wrong_are_one_line(detached: Callable[[str], Detached]) -> None:
    d = detached("tlsbad")
    srv, _cli = make_certs(os.path.join(d.base, "certs"))
    tcp = f"tcp://127.0.0.1:{free_port()}"
    missing = os.path.join(d.base, "nosuch.pem")
    for flags, says in (
            (["--tlsverify", "--tlscacert", f"{srv}/ca.pem", "--tlscert", missing, "--tlskey", f"{srv}/key.pem"],
             f"portside daemon: --tlscert {missing}: no such file"),
            (["--tlsverify", "--tlscacert", f"{srv}/key.pem", "--tlscert", f"{srv}/cert.pem", "--tlskey",
              f"{srv}/key.pem"], f"portside daemon: --tlscacert {srv}/key.pem: not a PEM CA certificate (no certificate or crl found)"),
            (["--tls", "--tlscert", f"{srv}/ca.pem", "--tlskey", f"{srv}/key.pem"],
             f"portside daemon: --tlscert {srv}/ca.pem, --tlskey {srv}/key.pem: not a PEM certificate and its key "
             f"(key values mismatch)")):
        p = run_cli(d.root, "daemon", "-H", tcp, "--pidfile", d.pidfile, *flags, timeout=30)
        assert (p.returncode, p.stdout, p.stderr) == (1, "", says + "\n")
    assert not os.path.exists(d.pidfile)


def test_a_killed_daemon_leaves_its_containers_running_for_the_next(detached: Callable[[str], Detached]) -> None:
    d = detached("k")
    assert d.start().returncode == 0
    cid = d.ok("run", "-d", *NONE, "--name", "survivor", "busybox", "sleep", "300").strip()
    pid = int(d.ok("inspect", "-f", "{{.State.Pid}}", cid))
    assert pid > 0
    daemon_pid = d.pid()
    os.kill(daemon_pid, signal.SIGKILL)
    wait_for("the killed daemon is gone", lambda: not os.path.exists(f"/proc/{daemon_pid}") or zombie(daemon_pid))
    assert os.path.exists(d.sock) and os.path.exists(d.pidfile)  # a killed daemon leaves both behind
    assert os.path.exists(f"/proc/{pid}") and not zombie(pid)  # the container did not notice

    p = d.start()  # the stale socket and pid file do not stop the next start
    assert p.returncode == 0, p.stderr
    assert d.pid() != daemon_pid
    assert d.ok("ps", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}").split() == \
        [cid, "survivor", "running"]
    assert d.ok("inspect", "-f", "{{.State.Pid}}", cid).strip() == str(pid)
    d.ok("rm", "-f", cid)
    assert not os.path.exists(f"/proc/{pid}") or zombie(pid)


def test_the_socket_refuses_a_user_outside_the_group(detached: Callable[[str], Detached]) -> None:
    """The docker CLI as ``nobody``: refused outside group ``portside``, served inside it."""
    d = detached("g")
    assert d.start().returncode == 0
    os.chmod(d.base, 0o755)  # only the socket's own mode and group may decide
    home = os.path.join(d.base, "nobody-home")
    os.makedirs(home, mode=0o777)
    os.chmod(home, 0o777)
    gid = grp.getgrnam("portside").gr_gid
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "DOCKER_HOST": d.host,
           "DOCKER_CONFIG": home}

    def as_nobody(groups: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", *groups, DOCKER_CLI, "version",
                               "--format", "{{.Server.APIVersion}}"], env=env, capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
    outside = as_nobody(["--clear-groups"])
    assert outside.returncode == 1
    assert "permission denied while trying to connect to the Docker daemon socket" in outside.stderr
    inside = as_nobody([f"--groups={gid}"])
    assert (inside.returncode, inside.stdout.strip()) == (0, "1.50"), inside.stderr


# -- bad input -------------------------------------------------------------------------------------
def test_bad_requests_on_a_raw_socket(detached: Callable[[str], Detached]) -> None:
    d = detached("raw")
    assert d.start().returncode == 0

    def status_and_json(answer: bytes) -> tuple[str, Any]:
        head, _, body = answer.partition(b"\r\n\r\n")
        return head.split(b"\r\n")[0].decode(), json.loads(body) if body else None
    assert status_and_json(raw(d.sock, b"GET /v1.50/nosuch HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == \
        ("HTTP/1.1 404 Not Found", {"message": "page not found"})
    assert status_and_json(raw(d.sock, b"GET /v1.51/containers/json HTTP/1.1\r\nHost: x\r\nConnection: close"
                                       b"\r\n\r\n")) == \
        ("HTTP/1.1 400 Bad Request", {"message": "client version 1.51 is too new. Maximum supported API version "
                                                 "is 1.50"})
    assert status_and_json(raw(d.sock, b"NONSENSE\r\n\r\n")) == \
        ("HTTP/1.1 400 Bad Request", {"message": "malformed HTTP request line"})
    assert status_and_json(raw(d.sock, b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n"
                                       b"\r\n")) == \
        ("HTTP/1.1 400 Bad Request", {"message": "invalid Content-Length header"})
    body = b'{"Image": "busybox", "Cmd": ["true"]'
    status, doc = http_answer(d.sock, "POST", "/v1.50/containers/create", body)
    assert (status, doc) == (400, {"message": "invalid JSON body: Expecting ',' delimiter at line 1 column 37"})
    for bad, says in ((b'{"Image": 5}', "Image must be a string, not a number (5)"),
                      (b'{"Image": "busybox", "HostConfig": {"Memory": "lots"}}',
                       "HostConfig.Memory must be an integer, not a string ('lots')"),
                      (b'{"Image": "busybox", "Labels": {"tier": 1}}', "Labels['tier'] must be a string, not a number (1)"),
                      (b'{"Image": "busybox", "Cmd": {"sh": true}}', "Cmd must be a string or a list of strings, not an "
                                                                   "object"),
                      (b'{"Image": "busybox", "HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": "many"}]}}',
                       "HostConfig.Ulimits[0].Soft must be an integer, not a string ('many')")):
        assert http_answer(d.sock, "POST", "/v1.50/containers/create", bad) == \
            (400, {"message": f"invalid JSON body: {says}"}), bad
    assert http_answer(d.sock, "POST", "/v1.50/volumes/create", b'{"Name": ["v"]}') == \
        (400, {"message": "invalid JSON body: Name must be a string, not a list"})
    assert http_answer(d.sock, "POST", "/v1.50/networks/create", b'{"Name": "n", "Internal": "no"}') == \
        (400, {"message": "invalid JSON body: Internal must be a boolean, not a string ('no')"})
    assert d.ok("ps", "-aq") == "" and d.ok("volume", "ls", "-q") == ""  # nothing was made of any of it
    assert d.ok("network", "ls", "--format", "{{.Name}}").split() == ["bridge", "host", "none"]


# -- clients that go away --------------------------------------------------------------------------
def test_a_client_leaving_an_attached_run_leaves_the_container_and_nothing_else(
        detached: Callable[[str], Detached]) -> None:
    """A hijacked attach whose client hangs up: the session ends (its pipes are closed), the container
    goes on writing to its log, and the daemon serves on."""
    d = detached("att")
    assert d.start().returncode == 0
    pid = d.pid()
    status, doc = http_answer(d.sock, "POST", "/v1.50/containers/create?name=chatty", json.dumps(
        {"Image": "busybox", "Cmd": ["sh", "-c", "while true; do echo tick; sleep 0.05; done"],
         "HostConfig": {"NetworkMode": "none"}}).encode())
    assert status == 201, doc
    cid = doc["Id"]
    pipes_before = len(fds_of(pid, "pipe:"))
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(d.sock)
    s.sendall(f"POST /v1.50/containers/{cid}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\n"
              f"Upgrade: tcp\r\nConnection: Upgrade\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101 UPGRADED")
    assert http_answer(d.sock, "POST", f"/v1.50/containers/{cid}/start")[0] == 204
    got = b""
    while got.count(b"tick") < 2:
        got += s.recv(4096)
    assert got.startswith(b"\x01\x00\x00\x00\x00\x00\x00\x05tick\n")
    s.close()  # the client goes away, the container does not
    wait_for("the attach session's pipes are closed", lambda: len(fds_of(pid, "pipe:")) <= pipes_before)
    assert d.ok("inspect", "-f", "{{.State.Running}}", cid).strip() == "true"
    logged = d.ok("logs", cid).count("tick")
    wait_for("the container goes on logging", lambda: d.ok("logs", cid).count("tick") > logged)
    d.ok("rm", "-f", cid)


def test_an_attached_run_closes_its_pipes_once_and_other_connections_live_on(
        detached: Callable[[str], Detached]) -> None:
    """The start closes the attach pipes' ends it handed to the monitor; the session closed them again
    when the container exited. By then those numbers were the sockets of connections accepted since, so
    the daemon cut them off (and asyncio later failed on a descriptor already closed). Connections made
    while an attached container runs still answer after it exits, and the daemon logs no traceback."""
    d = detached("once")
    assert d.start().returncode == 0
    status, doc = http_answer(d.sock, "POST", "/v1.50/containers/create?name=brief", json.dumps(
        {"Image": "busybox", "Cmd": ["sh", "-c", "sleep 1; echo done"], "HostConfig": {"NetworkMode": "none"}}).encode())
    assert status == 201, doc
    cid = doc["Id"]
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(d.sock)
    s.sendall(f"POST /v1.50/containers/{cid}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\n"
              f"Upgrade: tcp\r\nConnection: Upgrade\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101 UPGRADED")
    assert http_answer(d.sock, "POST", f"/v1.50/containers/{cid}/start")[0] == 204

    def ping(c: socket.socket) -> bytes:
        c.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while not got.endswith(b"OK"):
            chunk = c.recv(4096)
            if not chunk:
                return got
            got += chunk
        return got
    idle = []
    for _ in range(4):  # kept open across the container's exit, on the lowest free descriptors
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(10)
        c.connect(d.sock)
        assert ping(c).startswith(b"HTTP/1.1 200")
        idle.append(c)
    out = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        out += chunk
    s.close()
    assert out.endswith(b"done\n"), out
    try:
        for c in idle:
            assert ping(c).startswith(b"HTTP/1.1 200"), "a connection was closed under its client"
    finally:
        for c in idle:
            c.close()
    d.ok("rm", "-f", cid)
    with open(d.log) as f:
        log = f.read()
    assert "Traceback" not in log, log


def test_a_cancelled_build_removes_its_build_container_and_partial_layer(
        detached: Callable[[str], Detached]) -> None:
    """docker build, killed while a RUN step runs: the step's processes, cgroup, rootfs and layer go."""
    d = detached("bld")
    assert d.start().returncode == 0
    ctx = os.path.join(d.base, "ctx")
    os.makedirs(ctx)
    nap = 3000 + os.getpid() % 1000  # a sleep no other test on this host runs
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nRUN echo step-two > /two\nRUN echo started-slow-step; dd if=/dev/zero of=/big "
                f"bs=1k count=64; sleep {nap}\n")
    blobs_dir = os.path.join(d.root, "images", "blobs")
    tmp_dir = os.path.join(d.root, "tmp")

    def blobs() -> set[str]:
        out: set[str] = set()
        for dirpath, _dirs, files in os.walk(blobs_dir):
            out.update(os.path.join(dirpath, f) for f in files)
        return out

    def build_cgroups() -> list[str]:
        found = []
        for dirpath, dirs, _files in os.walk("/sys/fs/cgroup"):
            found += [os.path.join(dirpath, x) for x in dirs if x.startswith("build-")
                      and "portside" in dirpath and x[6:18] in seen_ids]
        return found

    def sleeping() -> bool:
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    with open(f"/proc/{p}/cmdline", "rb") as f:
                        if f.read() == f"sleep\x00{nap}\x00".encode():
                            return True
                except OSError:
                    pass
        return False
    before = blobs()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=d.host, DOCKER_BUILDKIT="0", DOCKER_CONFIG=os.path.join(d.base, "docker-config"))
    proc = subprocess.Popen([DOCKER_CLI, "build", "-t", "cancelled", ctx], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    seen_ids: list[str] = []
    try:
        assert proc.stdout is not None
        out = b""
        while b"started-slow-step\n" not in out.replace(b"\r", b""):
            line = proc.stdout.readline()
            assert line, f"docker build ended early: {out.decode(errors='replace')}"
            out += line
            if line.startswith(b" ---> Running in "):
                seen_ids.append(line.split()[-1].decode())
        assert len(seen_ids) == 2
        run_dirs = [n for n in os.listdir(tmp_dir) if n.startswith("run-")]
        assert run_dirs  # the slow step's rootfs is there while it runs
        wait_for("the slow step sleeps in its cgroup", lambda: sleeping() and bool(build_cgroups()))
    finally:
        proc.kill()  # the client goes away mid-build
        proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()

    wait_for("the cancelled RUN step's processes end", lambda: not sleeping() and not build_cgroups())
    wait_for("the cancelled step's rootfs goes", lambda: not [n for n in os.listdir(tmp_dir) if n.startswith("run-")])
    assert not IT.mounts_under(tmp_dir)
    new = blobs() - before
    # the finished steps stay in the cache, as docker's: the first RUN's layer and the step images' configs
    assert len(new) <= 3, new
    assert not [b for b in new if ".tmp" in b or "tmp-" in os.path.basename(b)]
    assert d.docker("image", "inspect", "cancelled").returncode == 1  # never tagged
    assert d.ok("ps", "-aq") == ""
    with open(os.path.join(ctx, "Dockerfile.fast"), "w") as f:
        f.write("FROM busybox\nRUN echo step-two > /two\n")
    again = subprocess.run([DOCKER_CLI, "build", "-q", "-t", "cancelled", "-f", os.path.join(ctx, "Dockerfile.fast"),
                            ctx], env=env, capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert d.ok("run", "--rm", *NONE, "cancelled", "cat", "/two").strip() == "step-two"  # the cache is sound


def peer_inode(s: socket.socket) -> str:
    """The inode of the daemon's end of our unix connection ``s`` (from ``ss -x``)."""
    mine = str(os.fstat(s.fileno()).st_ino)
    out = subprocess.run(["ss", "-xH"], capture_output=True, text=True, timeout=30).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 8 and f[5] == mine:
            return f[7]
    raise AssertionError(f"no unix connection with inode {mine} in ss -x")


def test_a_client_leaving_a_wait_lets_its_connection_go(detached: Callable[[str], Detached]) -> None:
    """``docker wait`` interrupted: the daemon ends the wait and closes its end of the connection."""
    d = detached("wt")
    assert d.start().returncode == 0
    cid = d.ok("run", "-d", *NONE, "busybox", "sleep", "300").strip()
    pid = d.pid()
    waiters = []
    for _ in range(3):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(d.sock)
        s.sendall(f"POST /v1.50/containers/{cid}/wait?condition=not-running HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert s.recv(12) == b"HTTP/1.1 200"  # the head goes out at once, as dockerd's
        waiters.append((s, f"socket:[{peer_inode(s)}]"))
    held = fds_of(pid, "socket:")
    assert all(theirs in held for _s, theirs in waiters)
    for s, _theirs in waiters:
        s.close()
    wait_for("the daemon lets the waits go",
             lambda: not set(fds_of(pid, "socket:")) & {theirs for _s, theirs in waiters})
    assert d.ok("inspect", "-f", "{{.State.Running}}", cid).strip() == "true"
    d.ok("rm", "-f", cid)


class SlowRegistry:
    """A registry on loopback serving one image whose layer stalls after its first part until
    ``release`` is set, then trickles; ``cut`` is set when the puller hangs up before the end."""

    def __init__(self) -> None:
        import gzip
        import hashlib
        import io
        import platform
        import tarfile
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        tar = io.BytesIO()
        with tarfile.open(fileobj=tar, mode="w") as tf:
            data = os.urandom(2 << 20)  # random: gzip keeps it 2 MiB
            info = tarfile.TarInfo("big")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        self.layer = gzip.compress(tar.getvalue(), mtime=0)
        diff_id = "sha256:" + hashlib.sha256(tar.getvalue()).hexdigest()
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        self.config = json.dumps({"architecture": arch, "os": "linux", "config": {"Cmd": ["sh"]},
                                  "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
        digest = {"layer": "sha256:" + hashlib.sha256(self.layer).hexdigest(),
                  "config": "sha256:" + hashlib.sha256(self.config).hexdigest()}
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(self.config),
                       "digest": digest["config"]},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(self.layer),
                        "digest": digest["layer"]}]}).encode()
        self.started, self.release, self.cut = threading.Event(), threading.Event(), threading.Event()
        reg = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self.answer(head=True)

            def do_GET(self) -> None:
                self.answer(head=False)

            def answer(self, head: bool) -> None:
                path = self.path
                if path == "/v2/":
                    body, kind = b"{}", "application/json"
                elif "/manifests/" in path:
                    body, kind = reg.manifest, "application/vnd.docker.distribution.manifest.v2+json"
                elif path.endswith(digest["config"]):
                    body, kind = reg.config, "application/octet-stream"
                elif path.endswith(digest["layer"]):
                    body, kind = reg.layer, "application/octet-stream"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                if "/manifests/" in path:
                    import hashlib
                    self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())
                self.end_headers()
                if head:
                    return
                if body is not reg.layer:
                    self.wfile.write(body)
                    return
                try:
                    self.wfile.write(body[:256 << 10])
                    self.wfile.flush()
                    reg.started.set()
                    reg.release.wait(60)
                    for i in range(256 << 10, len(body), 32 << 10):
                        self.wfile.write(body[i:i + (32 << 10)])
                        self.wfile.flush()
                        time.sleep(0.05)
                except (BrokenPipeError, ConnectionResetError):
                    reg.cut.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def test_a_client_leaving_a_pull_stops_it_and_keeps_nothing(detached: Callable[[str], Detached]) -> None:
    """docker pull, killed while a layer downloads: the daemon stops downloading (it hangs up on the
    registry), keeps no partial or finished blob of it, and records no image."""
    d = detached("pull")
    assert d.start().returncode == 0
    blob_dir = os.path.join(d.root, "images", "blobs", "sha256")
    before = set(os.listdir(blob_dir))
    reg = SlowRegistry()
    try:
        name = f"127.0.0.1:{reg.port}/slow:latest"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update(DOCKER_HOST=d.host, DOCKER_CONFIG=os.path.join(d.base, "docker-config"))
        proc = subprocess.Popen([DOCKER_CLI, "pull", name], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert reg.started.wait(60), "the daemon never asked for the layer"
        finally:
            proc.kill()  # the client goes away mid-download
            proc.wait(30)
        reg.release.set()  # the registry goes on sending: the daemon must hang up instead of finishing
        assert reg.cut.wait(60), "the daemon downloaded the whole layer for a client that was gone"
        wait_for("the pull's temporary blob goes", lambda: not [n for n in os.listdir(blob_dir)
                                                                 if n.startswith(".tmp-")])
        assert set(os.listdir(blob_dir)) == before
        assert d.docker("image", "inspect", name).returncode == 1
        assert d.ok("version", "--format", "{{.Server.APIVersion}}").strip() == "1.50"  # it serves on
    finally:
        reg.close()


def test_systemd_unit_files_name_this_daemon() -> None:
    """The shipped units start ``portside daemon`` from the socket unit (fd://) with the default paths."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(here, "docs", "systemd", "portside.service")) as f:
        service = f.read()
    with open(os.path.join(here, "docs", "systemd", "portside.socket")) as f:
        sock = f.read()
    assert "ExecStart=/usr/local/bin/portside daemon -H fd://" in service
    assert "Type=notify" in service and "KillMode=process" in service  # containers outlive a restart
    assert "ListenStream=/run/portside/portside.sock" in sock and "SocketGroup=portside" in sock
    assert "SocketMode=0660" in sock
    import shutil
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (make test installs systemd)"
    with tempfile.TemporaryDirectory() as d:  # systemd's own check, with ExecStart pointing at this checkout
        portside = os.path.join(os.path.dirname(sys.executable), "portside")
        for name, text in (("portside.service", service.replace("/usr/local/bin/portside", portside)),
                           ("portside.socket", sock)):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        p = subprocess.run([analyze, "verify", os.path.join(d, "portside.socket"), os.path.join(d, "portside.service")],
                           capture_output=True, text=True, timeout=60)
        assert (p.returncode, p.stderr) == (0, ""), p.stderr


def test_fd_host_serves_the_sockets_systemd_passes(detached: Callable[[str], Detached]) -> None:
    """``-H fd://`` as systemd starts it (LISTEN_PID/LISTEN_FDS, the socket as fd 3), with sd_notify."""
    d = detached("fd")
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(d.sock)
    listening.listen(16)
    notify_path = os.path.join(d.base, "notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(30)
    script = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.environ['LISTEN_PID'] = str(os.getpid()); "
              "os.environ['LISTEN_FDS'] = '1'; sys.argv = ['portside'] + sys.argv[2:]; "
              "from tui.cli import main; sys.exit(main())")
    env = dict(os.environ, PORTSIDE_ROOT=d.root, NOTIFY_SOCKET=notify_path)
    env.pop("DOCKER_HOST", None)
    proc = subprocess.Popen([sys.executable, "-c", script, str(listening.fileno()), "daemon", "-H", "fd://",
                             "--pidfile", d.pidfile], pass_fds=(listening.fileno(),), env=env,
                            cwd=IT.REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    listening.close()
    try:
        assert notify.recv(100) == b"READY=1"
        assert d.ok("version", "--format", "{{.Server.APIVersion}}").strip() == "1.50"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        notify.close()
    assert proc.returncode == 0, err
    assert b"API listening on fd://" in err


# -- the monitors' template ------------------------------------------------------------------------
def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def template_of(daemon_pid: int) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and b"engine.runtime.forkserver" in cmdline(int(p))
            and ppid(int(p)) == daemon_pid]


def page(port: int) -> str:
    import urllib.request
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                return str(resp.read().decode())
        except OSError:
            assert time.monotonic() < deadline, f"nothing answers on 127.0.0.1:{port}"
            time.sleep(0.05)


def test_monitors_are_forked_from_a_template_that_goes_with_the_daemon(detached: Callable[[str], Detached]) -> None:
    """The daemon's monitors come from one warm template process (engine/runtime/forkserver.py): each is a
    fork of it, detached, holding its container's output and network; the template is the daemon's child,
    started again if it dies, and gone when the daemon is killed, while the monitors live on."""
    d = detached("t")
    assert d.start().returncode == 0
    [template] = template_of(d.pid())
    port = free_port()
    web = d.ok("run", "-d", "--restart", "always", "-p", f"{port}:8080", "busybox", "sh", "-c",
               "echo up; mkdir -p /w; hostname > /w/index.html; exec httpd -f -p 8080 -h /w").strip()
    assert page(port).strip() == web[:12]
    init = int(d.ok("inspect", "-f", "{{.State.Pid}}", web))
    mon = ppid(init)
    assert cmdline(mon) == cmdline(template) and ppid(mon) != d.pid()  # forked from it, not exec'd, not the daemon's
    sleeper = d.ok("run", "-d", *NONE, "busybox", "sleep", "300").strip()
    sleeper_init = int(d.ok("inspect", "-f", "{{.State.Pid}}", sleeper))
    assert sorted(os.listdir(f"/proc/{sleeper_init}/fd")) == ["0", "1", "2"]  # nothing of the template leaks in

    # the monitor restarts its container in the same network namespace: the port answers again
    os.kill(init, signal.SIGKILL)
    wait_for("the web container restarted", lambda: d.ok("inspect", "-f", "{{.State.Pid}}", web).strip()
             not in ("0", str(init)))
    assert page(port).strip() == web[:12]
    assert d.ok("logs", web).split() == ["up", "up"]

    os.kill(template, signal.SIGKILL)  # a lost template is started again at the next container start
    wait_for("the template is gone", lambda: not os.path.exists(f"/proc/{template}") or zombie(template))
    again = d.ok("run", "-d", *NONE, "busybox", "sleep", "300").strip()
    [template2] = template_of(d.pid())
    assert template2 != template and ppid(int(d.ok("inspect", "-f", "{{.State.Pid}}", again))) != d.pid()

    daemon_pid = d.pid()
    os.kill(daemon_pid, signal.SIGKILL)
    wait_for("the template goes with the killed daemon",
             lambda: not os.path.exists(f"/proc/{template2}") or zombie(template2))
    assert os.path.exists(f"/proc/{mon}") and not zombie(mon)
    assert d.start().returncode == 0
    assert page(port).strip() == web[:12]
    d.ok("rm", "-f", web, sleeper, again)
    wait_for("the monitor went with its container", lambda: not os.path.exists(f"/proc/{mon}") or zombie(mon))


def test_a_second_daemon_on_the_same_data_root_is_refused(detached: Callable[[str], Detached]) -> None:
    """As dockerd: one daemon per data root. A second (on another socket) would share the first one's
    state, and on its way out it took the first one's ``daemon.json`` with it."""
    first, second = detached("one"), detached("two")
    assert first.start().returncode == 0
    p = second.start()
    assert p.returncode == 1 and not os.path.exists(second.sock)
    assert p.stderr.strip().splitlines() == [
        f"portside daemon: another daemon (pid {first.pid()}) is already serving the data root {first.root}"]
    with open(os.path.join(first.root, "daemon.json")) as f:
        assert json.load(f)["Pid"] == first.pid()
    assert first.ok("version", "--format", "{{.Server.APIVersion}}").strip() == "1.50"
