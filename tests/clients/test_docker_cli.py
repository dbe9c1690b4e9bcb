"""The real docker CLI (28, /usr/local/bin/docker) against ``portside daemon``, and the API by hand.

Each docker command's view is checked against Portside's own CLI on the same data root. Containers
run with ``--network none``: networking is not the point here.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Daemon  # tests/clients/conftest.py

pytestmark = pytest.mark.root

NONE = ("--network", "none")
DOCKER = "/usr/local/bin/docker" if os.access("/usr/local/bin/docker", os.X_OK) else "docker"  # as conftest's


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def request(d: Daemon, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = UnixHTTP(d.sock)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# -- the docker CLI ----------------------------------------------------------------------------------
def test_docker_version_negotiates_our_api(daemon: Daemon) -> None:
    out = daemon.ok("version", "--format", "{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}")
    assert out.split() == ["1.50", "1.24", "linux"]
    info = daemon.ok("info", "--format", "{{.Images}} {{.OSType}} {{.Swarm.LocalNodeState}}")
    assert info.split() == ["1", "linux", "inactive"]


def test_docker_images_matches_portside(daemon: Daemon) -> None:
    fmt = "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"
    docker = daemon.ok("images", "--format", fmt)
    mine = daemon.portside("images", "--format", fmt)
    assert mine.returncode == 0, mine.stderr
    assert docker == mine.stdout
    assert docker.startswith("busybox:latest ")
    history = daemon.ok("history", "--format", "{{.ID}} {{.Comment}}", "busybox")
    assert history.split()[0] == docker.split()[1]
    assert "busybox" in history


def test_docker_run_detached_ps_logs_inspect_stop_rm(daemon: Daemon) -> None:
    cid = daemon.ok("run", "-d", "--name", "web", *NONE, "busybox", "httpd", "-f", "-p", "8080").strip()
    try:
        assert len(cid) == 64
        fmt = "{{.ID}} {{.Image}} {{.Command}} {{.Names}}"
        docker_ps = daemon.ok("ps", "--format", fmt)
        assert docker_ps == daemon.portside("ps", "--format", fmt).stdout
        assert docker_ps.split()[0] == cid[:12] and docker_ps.split()[-1] == "web"
        assert daemon.ok("inspect", "--format", "{{.State.Status}} {{.Name}}", "web").split() == ["running", "/web"]

        daemon.ok("run", "-d", "--name", "talk", *NONE, "busybox", "sh", "-c", "echo out; echo err >&2")
        assert daemon.ok("wait", "talk").strip() == "0"
        logs = daemon.docker("logs", "talk")
        assert (logs.returncode, logs.stdout, logs.stderr) == (0, "out\n", "err\n")  # the frames keep the streams apart
        mine = daemon.portside("logs", "talk")
        assert (mine.stdout, mine.stderr) == (logs.stdout, logs.stderr)
        stamped = daemon.docker("logs", "-t", "--tail", "1", "talk")  # the last line, on its own stream
        assert stamped.stdout == "" and stamped.stderr.endswith(" err\n") and stamped.stderr[:4].isdigit()

        assert daemon.ok("stop", "-t", "1", "web").strip() == "web"
        assert daemon.ok("inspect", "--format", "{{.State.Status}}", "web").strip() == "exited"
        assert daemon.ok("stop", "web").strip() == "web"  # already stopped: 304, still success
        names = daemon.ok("ps", "-a", "--format", "{{.Names}}").split()
        assert sorted(names) == ["talk", "web"]
        assert names == daemon.portside("ps", "-a", "--format", "{{.Names}}").stdout.split()
    finally:
        daemon.docker("rm", "-f", "web", "talk")
    assert daemon.ok("ps", "-a", "-q") == ""
    assert daemon.portside("ps", "-a", "-q").stdout == ""


def test_docker_errors_come_with_the_engine_status(daemon: Daemon) -> None:
    p = daemon.docker("inspect", "--type", "container", "nosuch")
    assert p.returncode == 1 and "No such container: nosuch" in p.stderr
    p = daemon.docker("run", "-d", "--name", "bad name", "busybox", "true")
    assert p.returncode == 125 and "Invalid container name (bad name)" in p.stderr
    assert daemon.ok("ps", "-a", "-q") == ""
    cid = daemon.ok("run", "-d", *NONE, "busybox", "sleep", "30").strip()
    try:
        p = daemon.docker("rm", cid)
        assert p.returncode == 1 and "container is running" in p.stderr  # 409
    finally:
        daemon.ok("rm", "-f", cid)
    # a filter the route does not know is dockerd's 400, from both CLIs, not a listing of everything
    for args in (("ps", "--filter", "bogus=1"), ("images", "--filter", "bogus=1"),
                 ("network", "ls", "--filter", "bogus=1")):
        for run in (daemon.docker, daemon.portside):
            p = run(*args)
            assert p.returncode != 0 and p.stderr.strip().endswith("invalid filter 'bogus'"), (run, args, p.stderr)


def test_docker_tag_and_rmi(daemon: Daemon) -> None:
    daemon.ok("tag", "busybox", "mybox:1")
    fmt = "{{.Repository}}:{{.Tag}}"
    assert sorted(daemon.ok("images", "--format", fmt).split()) == ["busybox:latest", "mybox:1"]
    # docker's CLI walks one image's repositories in Go map order: compare as sets
    assert sorted(daemon.ok("images", "--format", fmt).split()) == \
        sorted(daemon.portside("images", "--format", fmt).stdout.split())
    assert daemon.ok("rmi", "mybox:1").strip() == "Untagged: mybox:1"
    assert daemon.ok("images", "--format", fmt).split() == ["busybox:latest"]
    p = daemon.docker("rmi", "nosuch:1")
    assert p.returncode == 1 and "No such image: nosuch:1" in p.stderr


def test_docker_run_attached_rm_exit_code_and_stdin(daemon: Daemon) -> None:
    p = daemon.docker("run", "--rm", *NONE, "busybox", "sh", "-c", "echo hi; echo oops >&2; exit 3")
    assert (p.returncode, p.stdout, p.stderr) == (3, "hi\n", "oops\n")
    p = daemon.docker("run", "-i", "--rm", *NONE, "busybox", "tr", "a-z", "A-Z", input="hello\n")
    assert (p.returncode, p.stdout) == (0, "HELLO\n")
    assert daemon.ok("run", "--rm", *NONE, "busybox", "echo", "hi") == "hi\n"
    assert daemon.ok("ps", "-a", "-q") == ""  # --rm removed them all
    p = daemon.docker("run", "--rm", *NONE, "busybox", "nosuchcmd")
    assert p.returncode == 127 and "nosuchcmd" in p.stderr


def test_docker_swarm_commands_say_not_a_manager(daemon: Daemon) -> None:
    p = daemon.docker("service", "ls")
    assert p.returncode == 1
    assert "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\"" in p.stderr


# -- the API by hand -------------------------------------------------------------------------------
def test_api_unknown_endpoint_is_docker_404(daemon: Daemon) -> None:
    for path in ("/nosuch", "/v1.50/nosuch/thing"):
        status, headers, body = request(daemon, "GET", path)
        assert (status, json.loads(body)) == (404, {"message": "page not found"})
        assert headers["content-type"] == "application/json"


def test_api_version_too_new_is_400(daemon: Daemon) -> None:
    status, _h, body = request(daemon, "GET", "/v1.99/containers/json")
    assert status == 400
    assert json.loads(body) == {"message": "client version 1.99 is too new. Maximum supported API version is 1.50"}
    status, _h, body = request(daemon, "GET", "/v1.24/containers/json")  # the oldest we serve
    assert status == 200 and isinstance(json.loads(body), list)


def test_api_head_ping_headers(daemon: Daemon) -> None:
    status, headers, body = request(daemon, "HEAD", "/_ping")
    assert (status, body) == (200, b"")
    assert {k: headers[k] for k in ("api-version", "ostype", "builder-version", "swarm", "docker-experimental")} == \
        {"api-version": "1.50", "ostype": "linux", "builder-version": "1", "swarm": "inactive",
         "docker-experimental": "false"}
    status, _h, body = request(daemon, "GET", "/v1.44/_ping")
    assert (status, body) == (200, b"OK")


def test_api_malformed_json_body_is_400_naming_the_problem(daemon: Daemon) -> None:
    status, _h, body = request(daemon, "POST", "/v1.50/containers/create", body=b'{"Image": "busybox",',
                               headers={"Content-Type": "application/json"})
    assert status == 400
    assert json.loads(body)["message"].startswith("invalid JSON body: Expecting property name")
    status, _h, body = request(daemon, "GET", "/containers/json?filters=%7Bbad")
    assert status == 400 and "filters parameter" in json.loads(body)["message"]
    assert daemon.ok("ps", "-a", "-q") == ""


def test_api_keeps_the_connection_alive(daemon: Daemon) -> None:
    conn = UnixHTTP(daemon.sock)
    try:
        for _ in range(3):
            conn.request("GET", "/v1.50/version")
            resp = conn.getresponse()
            assert resp.status == 200 and json.loads(resp.read())["ApiVersion"] == "1.50"
        sock = conn.sock
        conn.request("GET", "/_ping")
        assert conn.getresponse().read() == b"OK" and conn.sock is sock  # one connection throughout
    finally:
        conn.close()


# -- the daemon itself -----------------------------------------------------------------------------
def test_daemon_twice_on_one_socket_refuses_and_a_stale_socket_does_not_block(
        daemon_factory: Callable[..., Daemon]) -> None:
    first = daemon_factory()
    assert os.stat(first.sock).st_mode & 0o777 == 0o660
    with open(first.pidfile) as f:
        assert int(f.read()) == first.proc.pid  # type: ignore[union-attr]
    second = daemon_factory(start=False)
    p = second.portside("daemon", "-H", second.host, timeout=20)
    assert p.returncode == 1
    assert p.stderr.strip() == f"portside daemon: another daemon is already serving {first.host}"
    assert first.ok("version", "--format", "{{.Server.APIVersion}}").strip() == "1.50"  # untouched

    made = first.portside("image", "busybox")
    assert made.returncode == 0, made.stderr
    cid = first.ok("run", "-d", *NONE, "busybox", "sleep", "60").strip()
    first.stop(signal.SIGKILL)  # a killed daemon leaves its socket file behind
    assert os.path.exists(first.sock)
    ps = first.portside("ps", "-q", "--no-trunc")  # containers outlive the daemon
    assert ps.stdout.split() == [cid]
    again = daemon_factory()
    assert again.ok("ps", "-q", "--no-trunc").split() == [cid]
    again.ok("rm", "-f", cid)


def test_daemon_refuses_plain_tcp(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory(start=False)
    t = time.monotonic()
    p = d.portside("daemon", "-H", "tcp://127.0.0.1:2375", timeout=20)
    assert p.returncode == 1 and time.monotonic() - t < 20
    assert p.stderr.strip() == ("portside daemon: tcp://127.0.0.1:2375: plain tcp is refused (anyone who can reach "
                                "it would control this host): add --tlsverify --tlscacert --tlscert --tlskey, or "
                                "serve on a unix socket")


def test_docker_exec_streams_stdin_and_exit_code(daemon: Daemon) -> None:
    daemon.ok("run", "-d", "--name", "host1", *NONE, "busybox", "sleep", "60")
    try:
        p = daemon.docker("exec", "host1", "sh", "-c", "echo o; echo e >&2; exit 4")
        assert (p.returncode, p.stdout, p.stderr) == (4, "o\n", "e\n")
        p = daemon.docker("exec", "-i", "host1", "tr", "a-z", "A-Z", input="piped\n")
        assert (p.returncode, p.stdout) == (0, "PIPED\n")
        daemon.ok("exec", "-d", "host1", "touch", "/tmp/made")
        deadline = time.monotonic() + 5
        while daemon.docker("exec", "host1", "test", "-e", "/tmp/made").returncode != 0:
            assert time.monotonic() < deadline, "exec -d never ran"
            time.sleep(0.05)
        p = daemon.docker("exec", "host1", "nosuch")
        assert p.returncode == 127 and 'exec: "nosuch": executable file not found' in p.stdout + p.stderr
        assert "sleep 60" in daemon.ok("top", "host1")
    finally:
        daemon.docker("rm", "-f", "host1")


def test_docker_volume_and_network_commands(daemon: Daemon) -> None:
    assert daemon.ok("volume", "create", "vol1").strip() == "vol1"
    assert "vol1" in daemon.ok("volume", "ls", "--format", "{{.Name}}").split()
    assert daemon.ok("volume", "ls", "-q").split() == daemon.portside("volume", "ls", "-q").stdout.split()
    assert daemon.ok("volume", "rm", "vol1").strip() == "vol1"
    names = daemon.ok("network", "ls", "--format", "{{.Name}}").split()
    assert {"bridge", "host", "none"} <= set(names)
    assert names == daemon.portside("network", "ls", "--format", "{{.Name}}").stdout.split()
    p = daemon.docker("network", "rm", "nosuchnet")
    assert p.returncode == 1 and "nosuchnet" in p.stderr


def test_docker_kill_restart_wait_and_logs_follow(daemon: Daemon) -> None:
    daemon.ok("run", "-d", "--name", "counter", *NONE, "busybox", "sh", "-c",
              "for i in 1 2 3; do echo $i; sleep 0.2; done")
    try:
        followed = daemon.docker("logs", "-f", "counter", timeout=20)  # ends when the container does
        assert (followed.returncode, followed.stdout) == (0, "1\n2\n3\n")
        assert daemon.ok("wait", "counter").strip() == "0"
        daemon.ok("run", "-d", "--name", "sleeper", *NONE, "busybox", "sleep", "60")
        started = daemon.ok("inspect", "-f", "{{.State.StartedAt}}", "sleeper")
        assert daemon.ok("restart", "-t", "0", "sleeper").strip() == "sleeper"
        assert daemon.ok("inspect", "-f", "{{.State.Status}}", "sleeper").strip() == "running"
        assert daemon.ok("inspect", "-f", "{{.State.StartedAt}}", "sleeper") != started
        assert daemon.ok("kill", "sleeper").strip() == "sleeper"
        assert daemon.ok("wait", "sleeper").strip() == "137"
        assert daemon.ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "sleeper").split() == \
            ["exited", "137"]
        p = daemon.docker("kill", "sleeper")
        assert p.returncode == 1 and "is not running" in p.stderr
    finally:
        daemon.docker("rm", "-f", "counter", "sleeper")


def test_docker_stats_and_events(daemon: Daemon) -> None:
    since = str(int(time.time()) - 1)
    cid = daemon.ok("run", "-d", "--name", "watched", *NONE, "busybox", "sleep", "60").strip()
    try:
        row = daemon.ok("stats", "--no-stream", "--format", "{{.ID}} {{.Name}} {{.PIDs}}", "watched").split()
        assert row == [cid[:12], "watched", "1"]
        daemon.ok("stop", "-t", "0", "watched")
        events = daemon.ok("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter",
                           "container=watched", "--format", "{{.Type}} {{.Action}}").splitlines()
        assert events[:2] == ["container create", "container start"] and "container stop" in events
    finally:
        daemon.docker("rm", "-f", "watched")


def test_socket_needs_the_portside_group(daemon_factory: Callable[..., Daemon]) -> None:
    """Mode 0660, group portside: a user outside the group cannot connect; one in it can."""
    import grp
    d = daemon_factory()
    os.chmod(d.base, 0o755)  # only the socket's own mode and group may decide
    st = os.stat(d.sock)
    assert st.st_gid == grp.getgrnam("portside").gr_gid and st.st_mode & 0o777 == 0o660
    probe = "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print('connected')"
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    p = subprocess.run([*nobody, sys.executable, "-c", probe, d.sock], capture_output=True, text=True, timeout=20)
    assert p.returncode != 0 and "PermissionError" in p.stderr
    member = ["setpriv", "--reuid=65534", "--regid=65534", f"--groups={st.st_gid}"]
    p = subprocess.run([*member, sys.executable, "-c", probe, d.sock], capture_output=True, text=True, timeout=20)
    assert (p.returncode, p.stdout) == (0, "connected\n"), p.stderr


def test_docker_run_with_a_tty_streams_raw(daemon: Daemon) -> None:
    p = daemon.docker("run", "-t", "--rm", *NONE, "busybox", "sh", "-c", "tty; exit 2")
    assert p.returncode == 2
    assert p.stdout.replace("\r\n", "\n").startswith("/dev/pts/")  # no frame headers: a tty's stream is raw
    assert "\x01\x00\x00\x00" not in p.stdout


def test_docker_save_load_and_import(daemon: Daemon, tmp_path: pytest.TempPathFactory) -> None:
    archive = os.path.join(str(tmp_path), "busybox.tar")
    daemon.ok("save", "-o", archive, "busybox")
    image_id = daemon.ok("images", "--no-trunc", "-q", "busybox").strip()
    daemon.ok("tag", "busybox", "saved:1")
    assert daemon.ok("rmi", "saved:1").strip() == "Untagged: saved:1"
    loaded = daemon.ok("load", "-i", archive)
    assert loaded.strip() == "Loaded image: busybox:latest"
    assert daemon.ok("images", "--no-trunc", "-q", "busybox").strip() == image_id
    with open(archive, "rb") as f:  # a docker-archive: manifest.json names the image's config
        import tarfile
        with tarfile.open(fileobj=f) as tf:
            assert json.load(tf.extractfile("manifest.json"))[0]["RepoTags"] == ["busybox:latest"]  # type: ignore[arg-type]
    rootfs = os.path.join(str(tmp_path), "rootfs.tar")
    from engine.images import bootstrap
    with open(rootfs, "wb") as f:
        bootstrap.write_rootfs(f)
    p = daemon.docker("import", rootfs, "imported:1")
    assert p.returncode == 0 and p.stdout.startswith("sha256:"), p.stderr
    try:
        assert daemon.ok("run", "--rm", *NONE, "imported:1", "echo", "from the import") == "from the import\n"
        mine = daemon.portside("images", "--format", "{{.Repository}}:{{.Tag}}", "imported")
        assert mine.stdout.split() == ["imported:1"]
    finally:
        daemon.docker("rmi", "imported:1")


def test_api_large_chunked_body_is_spooled_not_refused(daemon: Daemon, tmp_path: pytest.TempPathFactory) -> None:
    """An archive bigger than the in-memory limit (8 MiB), sent chunked, imports whole."""
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        payload = os.urandom(1 << 20) * 10
        info = tarfile.TarInfo("big.bin")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    data = buf.getvalue()
    conn = UnixHTTP(daemon.sock)
    try:
        chunks = (data[i:i + (1 << 20)] for i in range(0, len(data), 1 << 20))
        conn.request("POST", "/v1.50/images/create?fromSrc=-&repo=big&tag=1", body=chunks,
                     headers={"Content-Type": "application/x-tar"}, encode_chunked=True)
        resp = conn.getresponse()
        status, body = resp.status, resp.read()
    finally:
        conn.close()
    try:
        assert status == 200, body
        image_id = json.loads(body)["status"]
        assert daemon.ok("images", "--no-trunc", "-q", "big:1").strip() == image_id
        assert int(daemon.ok("image", "inspect", "-f", "{{.Size}}", "big:1")) >= len(payload)
    finally:
        daemon.docker("rmi", "big:1")


def test_client_leaving_a_followed_log_leaves_nothing_behind(daemon: Daemon) -> None:
    """``logs -f`` on a quiet container, then the client hangs up: the daemon closes the log at once."""
    daemon.ok("run", "-d", "--name", "quiet", *NONE, "busybox", "sh", "-c", "echo once; sleep 60")
    try:
        pid = daemon.proc.pid  # type: ignore[union-attr]
        cid = daemon.ok("inspect", "--format", "{{.Id}}", "quiet").strip()
        log_path = os.path.join(daemon.root, "containers", cid) + "/"  # this container's files only

        def open_logs() -> int:
            n = 0
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith(log_path)
                except OSError:
                    pass
            return n
        before = open_logs()
        for _ in range(3):
            conn = UnixHTTP(daemon.sock)
            try:
                conn.request("GET", "/v1.50/containers/quiet/logs?stdout=1&follow=1")
                resp = conn.getresponse()
                assert resp.status == 200
                assert resp.read(13) == b"\x01\x00\x00\x00\x00\x00\x00\x05once\n"
                assert open_logs() == before + 1  # the follower holds the log open
            finally:
                conn.close()
            deadline = time.monotonic() + 5
            while open_logs() != before:
                assert time.monotonic() < deadline, "the daemon still follows the log of a gone client"
                time.sleep(0.02)
        assert daemon.ok("ps", "--format", "{{.Names}}").split() == ["quiet"]  # and it still serves
    finally:
        daemon.docker("rm", "-f", "quiet")


def _registry_module() -> Any:
    """tests/integration/test_registry.py's ``Registry`` (a docker-registry child process)."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration",
                        "test_registry.py")
    spec = importlib.util.spec_from_file_location("portside_registry_helpers", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def start_registry_with_login(base: str) -> Any:
    """A started docker-registry that asks for basic auth: user ``alice``, password ``s3cret``
    (skips the test where Debian's docker-registry or htpasswd is missing)."""
    mod = _registry_module()
    if not os.path.exists(mod.REGISTRY) or not mod.HTPASSWD:
        pytest.skip("needs docker-registry and htpasswd (Debian docker-registry, apache2-utils)")
    htpasswd = os.path.join(base, "htpasswd")
    subprocess.run([mod.HTPASSWD, "-Bbc", htpasswd, "alice", "s3cret"], check=True, capture_output=True)
    reg = mod.Registry(base, {"htpasswd": {"realm": "portside-tests", "path": htpasswd}})
    reg.start()
    return reg


def test_docker_push_rmi_pull_through_the_daemon(daemon: Daemon, tmp_path: Any) -> None:
    mod = _registry_module()
    if not os.path.exists(mod.REGISTRY):
        pytest.skip("needs docker-registry (Debian package docker-registry)")
    reg = mod.Registry(str(tmp_path))
    reg.start()
    ref = f"{reg.host}/pushed/busybox:1"
    try:
        image_id = daemon.ok("images", "--no-trunc", "-q", "busybox").strip()
        daemon.ok("tag", "busybox", ref)
        pushed = daemon.docker("push", ref)
        assert pushed.returncode == 0, pushed.stderr
        assert "1: digest: sha256:" in pushed.stdout
        assert daemon.ok("rmi", ref).strip() == f"Untagged: {ref}"
        pulled = daemon.docker("pull", ref)
        assert pulled.returncode == 0, pulled.stderr
        assert f"Status: Downloaded newer image for {ref}" in pulled.stdout
        assert daemon.ok("images", "--no-trunc", "-q", ref).strip() == image_id
        p = daemon.docker("pull", f"{reg.host}/pushed/nosuch:1")
        assert p.returncode == 1 and "nosuch" in p.stderr
    finally:
        daemon.docker("rmi", ref)
        reg.kill()


def test_docker_build_legacy_through_the_daemon(daemon: Daemon, tmp_path: Any) -> None:
    ctx = str(tmp_path)
    with open(os.path.join(ctx, "hello.txt"), "w") as f:
        f.write("hello\n")
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write('FROM busybox\nARG WHO=nobody\nCOPY hello.txt /hello.txt\nRUN echo "built by $WHO" > /who\n'
                'CMD ["cat", "/hello.txt", "/who"]\n')
    legacy = {"DOCKER_BUILDKIT": "0"}  # the legacy builder: POST /build with the context as a tar
    def contexts() -> set[str]:
        return {n for n in os.listdir(tempfile_dir()) if n.startswith("portside-build-")}
    others = contexts()  # another engine's builds on this machine are not this test's
    try:
        p = daemon.docker("build", "-t", "app:1", "--build-arg", "WHO=me", ctx, timeout=120, env=legacy)
        assert p.returncode == 0, p.stderr
        assert "Step 4/5 : RUN echo" in p.stdout and "Successfully tagged app:1" in p.stdout
        assert daemon.ok("run", "--rm", *NONE, "app:1") == "hello\nbuilt by me\n"
        q = daemon.docker("build", "-q", "-t", "app:2", ctx, timeout=120, env=legacy)
        assert q.returncode == 0 and q.stdout.strip() == daemon.ok("images", "--no-trunc", "-q", "app:2").strip()
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM busybox\nRUN exit 3\n")
        bad = daemon.docker("build", ctx, timeout=120, env=legacy)
        # errorDetail.code is the failing step's status, and docker build exits with it, as with dockerd
        assert (bad.returncode, bad.stderr.strip().splitlines()[-1]) == \
            (3, "The command '/bin/sh -c exit 3' returned a non-zero code: 3")
        deadline = time.monotonic() + 10  # the daemon removes each context once its stream has ended
        while contexts() - others:
            assert time.monotonic() < deadline, "a build context was left behind"
            time.sleep(0.05)
    finally:
        daemon.docker("rmi", "app:1", "app:2")


def tempfile_dir() -> str:
    import tempfile
    return tempfile.gettempdir()


def test_api_known_path_wrong_method_is_404_as_dockerd(daemon: Daemon) -> None:
    status, _h, body = request(daemon, "POST", "/v1.50/images/json")
    assert (status, json.loads(body)) == (404, {"message": "page not found"})
    status, _h, body = request(daemon, "GET", "/info")
    info = json.loads(body)
    assert status == 200 and info["SystemTime"].endswith("Z") and info["OSType"] == "linux"


# -- docker cp, system df, network connect, login, exec -it, inspect --format ----------------------
def _env(d: Daemon) -> dict[str, str]:
    """The environment ``Daemon.docker`` gives the CLI, for a call that needs bytes or a terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=d.host, DOCKER_CONFIG=os.path.join(d.base, "docker-config"))
    return env


def test_docker_cp_both_ways_running_and_stopped(daemon: Daemon, tmp_path: Any) -> None:
    """``docker cp`` in and out of a running container and of a stopped one; a volume inside the
    container path is honoured; ``-`` reads and writes a tar; a missing path is docker's 404."""
    import io
    import tarfile
    src = tmp_path / "payload"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.txt").write_text("beta\n")
    vol = "cpvol" + str(os.getpid())
    daemon.ok("run", "-d", "--name", "cp1", *NONE, "-v", f"{vol}:/data", "busybox", "sleep", "60")
    try:
        daemon.ok("cp", str(src), "cp1:/tmp/")
        assert daemon.ok("exec", "cp1", "cat", "/tmp/payload/a.txt", "/tmp/payload/sub/b.txt") == "alpha\nbeta\n"
        assert daemon.ok("exec", "cp1", "stat", "-c", "%u:%g", "/tmp/payload/a.txt").strip() == "0:0"
        daemon.ok("exec", "cp1", "sh", "-c", "echo in-volume > /data/v.txt")
        daemon.ok("cp", "cp1:/data/v.txt", str(tmp_path / "v.txt"))
        assert (tmp_path / "v.txt").read_text() == "in-volume\n"
        daemon.ok("cp", "cp1:/tmp/payload/.", str(tmp_path / "contents"))
        assert sorted(os.listdir(tmp_path / "contents")) == ["a.txt", "sub"]
        p = daemon.docker("cp", "cp1:/nosuch", str(tmp_path))
        assert p.returncode == 1 and "Could not find the file /nosuch in container cp1" in p.stderr

        daemon.ok("stop", "-t", "0", "cp1")
        out = subprocess.run([DOCKER, "cp", "cp1:/tmp/payload/sub", "-"], env=_env(daemon), capture_output=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tf:
            assert sorted(tf.getnames()) == ["sub", "sub/b.txt"]
            member = tf.extractfile("sub/b.txt")
            assert member is not None and member.read() == b"beta\n"
        (tmp_path / "late.txt").write_text("late\n")
        daemon.ok("cp", str(tmp_path / "late.txt"), "cp1:/data/")  # into the volume of a stopped container
        mountpoint = json.loads(daemon.ok("volume", "inspect", vol))[0]["Mountpoint"]
        with open(os.path.join(mountpoint, "late.txt")) as f:
            assert f.read() == "late\n"
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            info = tarfile.TarInfo("piped.txt")
            info.size, info.uid, info.gid = 6, 1234, 1234
            tf.addfile(info, io.BytesIO(b"piped\n"))
        p = subprocess.run([DOCKER, "cp", "-a", "-", "cp1:/tmp"], env=_env(daemon), input=buf.getvalue(),
                           capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr
        daemon.ok("start", "cp1")
        assert daemon.ok("exec", "cp1", "cat", "/tmp/piped.txt", "/data/late.txt") == "piped\nlate\n"
        assert daemon.ok("exec", "cp1", "stat", "-c", "%u:%g", "/tmp/piped.txt").strip() == "1234:1234"
    finally:
        daemon.docker("rm", "-f", "cp1")
        daemon.docker("volume", "rm", vol)


def test_docker_cp_cannot_escape_the_container_by_symlink(daemon: Daemon, tmp_path: Any) -> None:
    """Links in the container resolve inside it, going in and coming out, running or stopped."""
    marker = f"escape-{os.getpid()}"
    daemon.ok("run", "-d", "--name", "cp2", *NONE, "busybox", "sh", "-c",
              f"echo inside > /{marker}; ln -s / /tmp/abs; ln -s ../../../../../.. /tmp/up; "
              "mkdir -p /srv/d; echo 'in dir' > /srv/d/inner.txt; ln -s /srv/d /tmp/dirlink; "
              f"ln -s /{marker} /tmp/file; exec sleep 60")  # /tmp/file last: the test waits for it
    try:
        deadline = time.monotonic() + 10
        while daemon.docker("exec", "cp2", "test", "-L", "/tmp/file").returncode != 0:
            assert time.monotonic() < deadline, "the container never made its links"
            time.sleep(0.05)
        (tmp_path / "dropped.txt").write_text("dropped\n")
        for running in (True, False):
            if not running:
                daemon.ok("stop", "-t", "0", "cp2")
            for link in ("abs", "up"):
                out = tmp_path / f"{link}-{running}"
                daemon.ok("cp", f"cp2:/tmp/{link}/{marker}", str(out))
                assert out.read_text() == "inside\n"
                daemon.ok("cp", str(tmp_path / "dropped.txt"), f"cp2:/tmp/{link}/")
                assert not os.path.exists(f"/{marker}") and not os.path.exists("/dropped.txt")
            followed = tmp_path / f"followed-{running}"
            daemon.ok("cp", "-L", "cp2:/tmp/file", str(followed))
            assert followed.read_text() == "inside\n"
            kept = tmp_path / f"link-{running}"
            daemon.ok("cp", "cp2:/tmp/file", str(kept))
            assert os.readlink(kept) == f"/{marker}"
            slashed = tmp_path / f"slashed-{running}"  # a trailing slash names the link's target
            daemon.ok("cp", "cp2:/tmp/dirlink/", str(slashed))
            assert (slashed / "inner.txt").read_text() == "in dir\n"
        daemon.ok("start", "cp2")
        assert daemon.ok("exec", "cp2", "cat", "/dropped.txt") == "dropped\n"
    finally:
        daemon.docker("rm", "-f", "cp2")


def test_docker_system_df(daemon: Daemon) -> None:
    vol = "dfvol" + str(os.getpid())
    daemon.ok("run", "-d", "--name", "df1", *NONE, "-v", f"{vol}:/data", "busybox", "sh", "-c",
              "head -c 300000 /dev/zero > /data/blob; exec sleep 60")
    try:
        deadline = time.monotonic() + 10
        while daemon.docker("exec", "df1", "test", "-s", "/data/blob").returncode != 0:
            assert time.monotonic() < deadline, "the container never wrote its volume"
            time.sleep(0.05)
        rows = {}
        for line in daemon.ok("system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Active}}").splitlines():
            kind, total, active = line.split("|")
            rows[kind] = (total, active)
        images = len(set(daemon.ok("images", "-q").split()))  # an image with two tags counts once
        assert rows["Images"] == (str(images), "1")
        assert rows["Containers"] == (str(len(daemon.ok("ps", "-aq").split())), "1")
        assert rows["Local Volumes"][1] == "1" and rows["Build Cache"] == ("0", "0")
        verbose = daemon.ok("system", "df", "-v")
        line = next(ln for ln in verbose.splitlines() if ln.startswith(vol))
        assert line.split()[1:] == ["1", "300kB"], line
    finally:
        daemon.docker("rm", "-f", "df1")
        daemon.docker("volume", "rm", vol)


def test_docker_network_connect_and_disconnect(daemon: Daemon) -> None:
    net = "cnet" + str(os.getpid())
    daemon.ok("network", "create", "--subnet", "10.231.7.0/24", net)
    daemon.ok("run", "-d", "--name", "nc1", "busybox", "sleep", "60")
    try:
        daemon.ok("network", "connect", "--alias", "nc-alias", net, "nc1")
        fmt = "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"
        assert sorted(daemon.ok("inspect", "-f", fmt, "nc1").split()) == sorted(["bridge", net])
        addr = daemon.ok("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{net}").IPAddress}}}}', "nc1").strip()
        assert addr.startswith("10.231.7.")
        assert addr in daemon.ok("exec", "nc1", "ip", "-4", "addr")
        assert daemon.ok("network", "inspect", "-f", "{{range .Containers}}{{.Name}}{{end}}", net).strip() == "nc1"
        p = daemon.docker("network", "connect", net, "nc1")
        assert p.returncode == 1 and "already exists in network" in p.stderr
        daemon.ok("network", "disconnect", net, "nc1")
        assert daemon.ok("inspect", "-f", fmt, "nc1").split() == ["bridge"]
        assert addr not in daemon.ok("exec", "nc1", "ip", "-4", "addr")
        p = daemon.docker("network", "disconnect", net, "nc1")
        assert p.returncode == 1 and "is not connected to network" in p.stderr
    finally:
        daemon.docker("rm", "-f", "nc1")
        daemon.docker("network", "rm", net)


def test_docker_inspect_format(daemon: Daemon) -> None:
    daemon.ok("create", "--name", "fmt1", *NONE, "-e", "A=1", "--label", "k=v", "busybox", "echo", "hi")
    try:
        assert daemon.ok("inspect", "--format", "{{.Name}} {{.State.Status}} {{.Config.Labels.k}}", "fmt1") \
            == "/fmt1 created v\n"
        assert daemon.ok("inspect", "--format", "{{json .Config.Cmd}}", "fmt1") == '["echo","hi"]\n'
        assert daemon.ok("inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", "fmt1").splitlines()[0] == "A=1"
        assert daemon.ok("container", "inspect", "-f", "{{.Id}}", "fmt1").strip() == \
            daemon.portside("inspect", "-f", "{{.Id}}", "fmt1").stdout.strip()
        image_id = daemon.ok("image", "inspect", "-f", "{{.Id}}", "busybox").strip()
        assert image_id.startswith("sha256:") and daemon.ok("inspect", "-f", "{{.Image}}", "fmt1").strip() == image_id
        p = daemon.docker("inspect", "-f", "{{.Nope}}", "fmt1")
        assert p.returncode == 1 and 'map has no entry for key "Nope"' in p.stderr
    finally:
        daemon.docker("rm", "-f", "fmt1")


def test_docker_exec_interactive_tty(daemon: Daemon) -> None:
    """``docker exec -it`` from a real terminal: a shell with a tty, its output raw, its exit code."""
    import pty
    import select
    daemon.ok("run", "-d", "--name", "tty1", *NONE, "busybox", "sleep", "60")
    try:
        pid, fd = pty.fork()
        if pid == 0:  # the child: docker on the pty's slave side
            os.execve(DOCKER, [DOCKER, "exec", "-it", "tty1", "sh"], _env(daemon))
        out = b""
        try:
            def read_until(token: bytes, limit: float = 20) -> None:
                nonlocal out
                deadline = time.monotonic() + limit
                while token not in out:
                    assert time.monotonic() < deadline, f"no {token!r} in {out!r}"
                    if select.select([fd], [], [], 0.2)[0]:
                        try:
                            chunk = os.read(fd, 4096)
                        except OSError:
                            chunk = b""
                        if not chunk:
                            raise AssertionError(f"the terminal closed before {token!r}: {out!r}")
                        out += chunk
            os.write(fd, b"tty; echo sum=$((6*7))\n")
            read_until(b"sum=42")
            assert b"/dev/pts/" in out
            os.write(fd, b"exit 3\n")
            _, status = os.waitpid(pid, 0)
            pid = 0
            assert os.waitstatus_to_exitcode(status) == 3
        finally:
            if pid:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            os.close(fd)
    finally:
        daemon.docker("rm", "-f", "tty1")


def test_docker_login_push_and_run_from_a_registry(daemon: Daemon, tmp_path: Any) -> None:
    """``docker login`` (checked by the daemon against the registry, kept by the CLI), then push, then
    ``run`` of an image that is only in the registry; a wrong password is refused."""
    reg = start_registry_with_login(str(tmp_path))
    ref = f"{reg.host}/team/hello:1"
    try:
        bad = daemon.docker("login", "-u", "alice", "--password-stdin", reg.host, input="wrong\n")
        assert bad.returncode == 1 and "unauthorized" in bad.stderr
        login = daemon.docker("login", "-u", "alice", "--password-stdin", reg.host, input="s3cret\n")
        assert login.returncode == 0 and "Login Succeeded" in login.stdout, login.stderr
        with open(os.path.join(daemon.base, "docker-config", "config.json")) as f:
            assert reg.host in json.load(f)["auths"]  # the CLI keeps the credentials, as with dockerd
        daemon.ok("tag", "busybox", ref)
        pushed = daemon.docker("push", ref)
        assert pushed.returncode == 0 and "1: digest: sha256:" in pushed.stdout, pushed.stderr
        daemon.ok("rmi", ref)
        ran = daemon.docker("run", "--rm", *NONE, ref, "echo", "from the registry", timeout=120)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout == "from the registry\n" and "Pulling from team/hello" in ran.stderr
        daemon.ok("logout", reg.host)
        daemon.ok("rmi", ref)
        denied = daemon.docker("pull", ref)
        said = denied.stderr + denied.stdout
        assert denied.returncode == 1 and ("no basic auth credentials" in said or "unauthorized" in said), said
    finally:
        daemon.docker("rmi", ref)
        reg.kill()


def test_docker_attach_to_a_running_container(daemon: Daemon) -> None:
    """``docker attach`` after ``run -d``: the output from then on, stdout and stderr apart, and the
    container's exit code as docker attach's own."""
    daemon.ok("run", "-d", "--name", "att1", *NONE, "busybox", "sh", "-c",
              "while [ ! -e /go ]; do echo tick; sleep 0.1; done; echo bye >&2; exit 4")
    proc = subprocess.Popen([DOCKER, "attach", "att1"], env=_env(daemon), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"tick\n"  # attached: output flows
        daemon.ok("exec", "att1", "touch", "/go")
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 4, err
        assert set(out.split()) <= {b"tick"} and err == b"bye\n"
        p = daemon.docker("attach", "att1")
        assert p.returncode == 1 and "You cannot attach to a stopped container" in p.stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        daemon.docker("rm", "-f", "att1")


def test_portside_cp_matches_docker_cp(daemon: Daemon, tmp_path: Any) -> None:
    """``portside cp`` (embedded, on the daemon's data root) and ``docker cp`` (through the daemon) see
    and leave the same files; ``-`` both ways, ``-a``, ``-L``, and docker's rules for where a copy lands."""
    import io
    import tarfile
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "f.txt").write_text("eff\n")
    (src / "sub" / "g.txt").write_text("gee\n")
    os.symlink("f.txt", src / "link")
    daemon.ok("run", "-d", "--name", "pcp", *NONE, "busybox", "sleep", "60")
    try:
        portside = daemon.portside
        p = portside("cp", str(src), "pcp:/tmp/")  # an existing directory receives the tree by its name
        assert p.returncode == 0, p.stderr
        assert sorted(daemon.ok("exec", "pcp", "find", "/tmp/tree").split()) == \
            ["/tmp/tree", "/tmp/tree/f.txt", "/tmp/tree/link", "/tmp/tree/sub", "/tmp/tree/sub/g.txt"]
        assert daemon.ok("exec", "pcp", "readlink", "/tmp/tree/link").strip() == "f.txt"
        assert portside("cp", str(src / "f.txt"), "pcp:/tmp/renamed.txt").returncode == 0  # a new name
        assert daemon.ok("exec", "pcp", "cat", "/tmp/renamed.txt") == "eff\n"
        assert portside("cp", "-L", str(src / "link"), "pcp:/tmp/followed").returncode == 0
        assert daemon.ok("exec", "pcp", "cat", "/tmp/followed") == "eff\n"
        p = portside("cp", str(src), "pcp:/tmp/renamed.txt")
        assert p.returncode != 0 and "cannot copy a directory to a file" in p.stderr

        for tool in ("docker", "portside"):  # out again, each way, the same result
            out = tmp_path / f"out-{tool}"
            if tool == "docker":
                daemon.ok("cp", "pcp:/tmp/tree", str(out))
            else:
                assert portside("cp", "pcp:/tmp/tree", str(out)).returncode == 0
            assert (out / "sub" / "g.txt").read_text() == "gee\n" and os.readlink(out / "link") == "f.txt"
        assert sorted(os.listdir(tmp_path / "out-docker")) == sorted(os.listdir(tmp_path / "out-portside"))
        assert portside("cp", "pcp:/tmp/tree/.", str(tmp_path / "out-docker")).returncode == 0  # contents
        assert sorted(os.listdir(tmp_path / "out-docker")) == ["f.txt", "link", "sub"]

        p = portside_bytes(daemon, "cp", "pcp:/tmp/tree/sub", "-")
        assert p.returncode == 0, p.stderr
        with tarfile.open(fileobj=io.BytesIO(p.stdout)) as tf:
            assert sorted(tf.getnames()) == ["sub", "sub/g.txt"]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            info = tarfile.TarInfo("owned.txt")
            info.size, info.uid, info.gid = 4, 4321, 4321
            tf.addfile(info, io.BytesIO(b"own\n"))
        p = portside_bytes(daemon, "cp", "-a", "-", "pcp:/tmp", input=buf.getvalue())
        assert p.returncode == 0, p.stderr
        assert daemon.ok("exec", "pcp", "stat", "-c", "%u %n", "/tmp/owned.txt").strip() == "4321 /tmp/owned.txt"

        p = portside("cp", "pcp:/nosuch", str(tmp_path))
        assert (p.returncode, p.stderr.strip().splitlines()[-1]) == \
            (1, "Error response from daemon: Could not find the file /nosuch in container pcp")
        p = portside("cp", str(tmp_path / "missing"), "pcp:/tmp")
        assert p.returncode != 0 and "no such file or directory" in p.stderr
        p = portside("cp", "pcp:/tmp", "pcp:/tmp")
        assert p.returncode != 0 and "copying between containers is not supported" in p.stderr
    finally:
        daemon.docker("rm", "-f", "pcp")


def portside_bytes(d: Daemon, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Portside's CLI (embedded, on the daemon's data root) with bytes in and out."""
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    env["PORTSIDE_ROOT"] = d.root
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], env=env, input=input, capture_output=True,
                          timeout=60, cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_api_archive_stat_header_gzip_body_and_bad_extraction_point(daemon: Daemon) -> None:
    """The archive route by hand: HEAD's X-Docker-Container-Path-Stat, a gzip-compressed PUT (dockerd
    takes one), a PUT onto a file, and a path that is missing."""
    import base64
    import gzip
    import io
    import tarfile
    daemon.ok("run", "-d", "--name", "arc1", *NONE, "busybox", "sh", "-c", "ln -s /etc /tmp/etc-link; exec sleep 60")
    try:
        deadline = time.monotonic() + 10
        while daemon.docker("exec", "arc1", "test", "-L", "/tmp/etc-link").returncode != 0:
            assert time.monotonic() < deadline, "the container never made its link"
            time.sleep(0.05)
        status, headers, body = request(daemon, "HEAD", "/v1.50/containers/arc1/archive?path=/tmp/etc-link")
        doc = json.loads(base64.b64decode(headers["x-docker-container-path-stat"]))
        assert status == 200 and body == b""
        assert set(doc) == {"name", "size", "mode", "mtime", "linkTarget"}
        assert (doc["name"], doc["linkTarget"], bool(doc["mode"] & (1 << 27))) == ("etc-link", "/etc", True)
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tf:
            info = tarfile.TarInfo("zipped.txt")
            info.size = 7
            tf.addfile(info, io.BytesIO(b"zipped\n"))
        status, _h, body = request(daemon, "PUT", "/v1.50/containers/arc1/archive?path=/tmp",
                                   body=gzip.compress(raw.getvalue()), headers={"Content-Type": "application/x-tar"})
        assert status == 200, body
        assert daemon.ok("exec", "arc1", "cat", "/tmp/zipped.txt") == "zipped\n"
        status, _h, body = request(daemon, "PUT", "/v1.50/containers/arc1/archive?path=/tmp/zipped.txt",
                                   body=raw.getvalue())
        assert (status, json.loads(body)) == (400, {"message": "extraction point is not a directory"})
        status, _h, body = request(daemon, "GET", "/v1.50/containers/arc1/archive?path=/no/such")
        assert (status, json.loads(body)) == (404, {"message": "Could not find the file /no/such in container arc1"})
        status, _h, body = request(daemon, "GET", "/v1.50/containers/arc1/archive")
        assert status == 400 and "path cannot be empty" in json.loads(body)["message"]
        # a HEAD answer has no body, an error's neither: the next answer on the connection follows at once
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(daemon.sock)
            s.sendall(b"HEAD /v1.50/containers/arc1/archive?path=/no/such HTTP/1.1\r\nHost: docker\r\n\r\n"
                      b"GET /v1.50/_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
            seen = b""
            while not seen.endswith(b"\r\n\r\nOK"):
                data = s.recv(65536)
                assert data, f"the connection closed: {seen!r}"
                seen += data
        first, _, rest = seen.partition(b"\r\n\r\n")
        assert first.startswith(b"HTTP/1.1 404 ") and rest.startswith(b"HTTP/1.1 200 OK\r\n"), seen
    finally:
        daemon.docker("rm", "-f", "arc1")


def test_docker_cp_into_a_read_only_container(daemon: Daemon, tmp_path: Any) -> None:
    """``--read-only``: a copy onto the rootfs is refused in docker's words, one into a volume lands."""
    vol = "rovol" + str(os.getpid())
    (tmp_path / "f.txt").write_text("f\n")
    daemon.ok("run", "-d", "--name", "ro1", "--read-only", *NONE, "-v", f"{vol}:/data", "busybox", "sleep", "60")
    try:
        for running in (True, False):
            if not running:
                daemon.ok("stop", "-t", "0", "ro1")
            p = daemon.docker("cp", str(tmp_path / "f.txt"), "ro1:/")
            assert (p.returncode, p.stderr.strip()) == \
                (1, "Error response from daemon: container rootfs is marked read-only"), p.stderr
            daemon.ok("cp", str(tmp_path / "f.txt"), f"ro1:/data/{running}.txt")
        mountpoint = json.loads(daemon.ok("volume", "inspect", vol))[0]["Mountpoint"]
        assert sorted(os.listdir(mountpoint)) == ["False.txt", "True.txt"]
    finally:
        daemon.docker("rm", "-f", "ro1")
        daemon.docker("volume", "rm", vol)


def test_docker_image_prune_dangling_then_all_unused(daemon: Daemon) -> None:
    import io
    import tarfile

    def imported(text: bytes, *tag: str) -> str:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            info = tarfile.TarInfo("hello.txt")
            info.size = len(text)
            tf.addfile(info, io.BytesIO(text))
        p = subprocess.run([DOCKER, "import", "-", *tag], env=_env(daemon), input=buf.getvalue(),
                           capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout.decode().strip()
    daemon.ok("create", "--name", "keeper", *NONE, "busybox", "true")  # busybox is in use: never pruned
    try:
        dangling = imported(b"dangling\n")
        tagged = imported(b"tagged\n", "prunable:1")
        assert dangling in daemon.ok("images", "-q", "--no-trunc", "--filter", "dangling=true").split()
        out = daemon.ok("image", "prune", "-f")
        assert f"deleted: {dangling}" in out and "Total reclaimed space:" in out
        assert daemon.ok("images", "-q", "--no-trunc", "--filter", "dangling=true").split() == []
        assert daemon.ok("images", "-q", "--no-trunc", "prunable:1").strip() == tagged
        out = daemon.ok("image", "prune", "-a", "-f")
        assert "untagged: prunable:1" in out and f"deleted: {tagged}" in out
        # as dockerd: a reference filter keeps only the matching tags and digests of an image
        assert daemon.ok("images", "--format", "{{.Repository}}", "busybox").strip() == "busybox"
    finally:
        daemon.docker("rm", "-f", "keeper")
        daemon.docker("rmi", "prunable:1")


def test_docker_volume_and_network_prune_and_system_prune(daemon: Daemon) -> None:
    tag = str(os.getpid())
    daemon.ok("volume", "create", f"named{tag}")
    daemon.ok("network", "create", f"spare{tag}")
    daemon.ok("create", "--name", "anon", *NONE, "-v", "/scratch", "busybox", "true")
    try:
        assert daemon.ok("volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}}", f"named{tag}").split() == \
            [f"named{tag}", "local", "local"]
        anon = json.loads(daemon.ok("inspect", "anon"))[0]["Mounts"][0]["Name"]
        daemon.ok("rm", "anon")
        out = daemon.ok("volume", "prune", "-f")  # docker 23+: anonymous volumes only
        assert anon in out.split() and f"named{tag}" not in out
        assert f"named{tag}" in daemon.ok("volume", "prune", "-a", "-f").split()
        assert f"named{tag}" not in daemon.ok("volume", "ls", "-q").split()
        out = daemon.ok("network", "prune", "-f")
        assert f"spare{tag}" in out.split()
        assert {"bridge", "host", "none"} <= set(daemon.ok("network", "ls", "--format", "{{.Name}}").split())
        assert f"spare{tag}" not in daemon.ok("network", "ls", "--format", "{{.Name}}").split()
        daemon.ok("create", "--name", "stopped1", *NONE, "busybox", "true")
        out = daemon.ok("system", "prune", "-f")
        assert "Total reclaimed space:" in out
        assert "stopped1" not in daemon.ok("ps", "-a", "--format", "{{.Names}}").split()
    finally:
        daemon.docker("rm", "-f", "anon", "stopped1")
        daemon.docker("volume", "rm", f"named{tag}")
        daemon.docker("network", "rm", f"spare{tag}")


def test_docker_cp_into_a_created_container_before_its_first_start(daemon: Daemon, tmp_path: Any) -> None:
    (tmp_path / "config.txt").write_text("configured\n")
    daemon.ok("create", "--name", "fresh", *NONE, "busybox", "cat", "/etc/config.txt")
    try:
        daemon.ok("cp", str(tmp_path / "config.txt"), "fresh:/etc/")
        daemon.ok("start", "fresh")
        assert daemon.ok("wait", "fresh").strip() == "0"
        assert daemon.ok("logs", "fresh") == "configured\n"
    finally:
        daemon.docker("rm", "-f", "fresh")
