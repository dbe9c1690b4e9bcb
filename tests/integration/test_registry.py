"""Sharing images against a real registry: Debian's ``docker-registry`` (distribution 2.8) on loopback.

Each test gets its own registry: a private config and storage folder under the test's tmp dir, a free
port on 127.0.0.1, started as a child process and stopped by its pid in ``finally``. Auth variants:
none, htpasswd (``apache2-utils``), and bearer tokens from a small token service run by the test itself
(RS256 JWTs signed with a key whose self-signed certificate the registry trusts as ``rootcertbundle``).
Skopeo (Debian's ``skopeo``) checks interchange both ways. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SKOPEO = shutil.which("skopeo")
HTPASSWD = shutil.which("htpasswd")

pytestmark = pytest.mark.skipif(not os.access(REGISTRY, os.X_OK), reason="needs Debian's docker-registry")

Cli = Callable[..., subprocess.CompletedProcess[str]]


def run_cli(root: str, *args: str, timeout: float = 60, input: bytes | str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, PORTSIDE_ROOT=root)
    full_env.pop("DOCKER_HOST", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], env=full_env, cwd=REPO, input=input,
                          capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    """A docker-registry child process with its own config and storage."""

    def __init__(self, base: str, auth: dict[str, Any] | None = None) -> None:
        self.base = base
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.storage = os.path.join(base, "storage")
        self.config = os.path.join(base, "config.yml")
        self.proc: subprocess.Popen[bytes] | None = None
        cfg: dict[str, Any] = {
            "version": 0.1, "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": self.storage}, "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": "portside-tests-fixed-secret"},
        }
        if auth:
            cfg["auth"] = auth
        with open(self.config, "w") as f:
            json.dump(cfg, f)  # YAML is a superset of JSON

    def start(self) -> None:
        log = open(os.path.join(self.base, "registry.log"), "ab")
        self.proc = subprocess.Popen([REGISTRY, "serve", self.config], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not start: {open(os.path.join(self.base, 'registry.log')).read()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def blob_path(self, digest: str) -> str:
        hexpart = digest.split(":", 1)[1]
        return os.path.join(self.storage, "docker/registry/v2/blobs/sha256", hexpart[:2], hexpart, "data")


@pytest.fixture
def start_registry(tmp_path: Any) -> Iterator[Callable[..., Registry]]:
    started: list[Registry] = []

    def start(auth: dict[str, Any] | None = None) -> Registry:
        base = str(tmp_path / f"registry{len(started)}")
        os.makedirs(base)
        reg = Registry(base, auth)
        started.append(reg)
        reg.start()
        return reg
    try:
        yield start
    finally:
        for reg in started:
            reg.kill()


@pytest.fixture
def registry(start_registry: Callable[..., Registry]) -> Registry:
    return start_registry()


@pytest.fixture
def docker_config(tmp_path: Any) -> str:
    d = str(tmp_path / "docker-config")
    os.makedirs(d)
    return d


@pytest.fixture
def pcli(root: str, docker_config: str) -> Cli:
    """The CLI with a private DOCKER_CONFIG and quick retries."""
    def call(*args: str, timeout: float = 120, input: bytes | str | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full = {"DOCKER_CONFIG": docker_config, "PORTSIDE_REGISTRY_RETRY_DELAY": "0.2", **(env or {})}
        return run_cli(root, *args, timeout=timeout, input=input, env=full)
    return call


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def image_id(cli: Cli, name: str) -> str:
    return ok(cli("image", "inspect", "-f", "{{.Id}}", name)).strip()


@pytest.fixture
def pushed(pcli: Cli, imported: str, registry: Registry) -> str:
    """``busybox`` pushed as ``<registry>/username/repository:tag``; returns that name."""
    name = f"{registry.host}/username/repository:tag"
    ok(pcli("tag", "busybox", name))
    ok(pcli("push", name))
    return name


def make_layered_image(cli: Cli, tmp: str, name: str, sizes_mb: list[int], random: bool = True) -> str:
    """Build an image of several layers with incompressible (or text) files; returns its id."""
    ctx = os.path.join(tmp, "ctx-" + hashlib.sha256(name.encode()).hexdigest()[:8])
    os.makedirs(ctx)
    lines = ["FROM busybox"]
    for i, mb in enumerate(sizes_mb):
        with open(os.path.join(ctx, f"f{i}"), "wb") as f:
            f.write(os.urandom(mb << 20) if random else (b"portside layer line %d\n" % i) * (mb << 16))
        lines.append(f"COPY f{i} /data/f{i}")
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("\n".join(lines) + "\n")
    ok(cli("build", "-q", "-t", name, ctx, timeout=300))
    return image_id(cli, name)


# --------------------------------------------------------------------------- plain registry

@pytest.mark.root
def test_push_rm_pull_keeps_the_image_id(pcli: Cli, imported: str, registry: Registry) -> None:
    name = f"{registry.host}/username/repository:tag"
    ok(pcli("tag", "busybox", name))
    first = ok(pcli("push", name))
    assert f"The push refers to repository [{registry.host}/username/repository]" in first
    assert ": Pushed" in first
    last = first.strip().splitlines()[-1]
    assert last.startswith("tag: digest: sha256:") and " size: " in last
    digest = last.split()[2]
    again = ok(pcli("push", name))
    assert "Layer already exists" in again and ": Pushed" not in again
    assert again.strip().splitlines()[-1] == last
    other = f"{registry.host}/someone/else:v1"
    ok(pcli("tag", "busybox", other))
    mounted = ok(pcli("push", other))
    assert "Mounted from username/repository" in mounted or "Layer already exists" in mounted
    ok(pcli("rmi", "-f", "busybox", name, other))
    assert ok(pcli("images", "-q")).strip() == ""
    out = ok(pcli("pull", name))
    assert "Pull complete" in out and f"Digest: {digest}" in out
    assert f"Status: Downloaded newer image for {name}" in out
    assert out.strip().splitlines()[-1] == name
    assert image_id(pcli, name) == imported
    repo_digests = json.loads(ok(pcli("image", "inspect", "-f", "{{json .RepoDigests}}", name)))
    assert f"{registry.host}/username/repository@{digest}" in repo_digests
    up_to_date = ok(pcli("pull", name))
    assert "Status: Image is up to date" in up_to_date and "Pulling fs layer" not in up_to_date
    assert ok(pcli("run", "--rm", name, "echo", "pulled")).strip() == "pulled"


@pytest.mark.root
def test_pull_by_digest(pcli: Cli, pushed: str, registry: Registry, imported: str) -> None:
    repo = pushed.rsplit(":", 1)[0]
    digest = json.loads(ok(pcli("image", "inspect", "-f", "{{json .RepoDigests}}", pushed)))[0].split("@")[1]
    ok(pcli("rmi", "-f", pushed, "busybox"))
    out = ok(pcli("pull", f"{repo}@{digest}"))
    assert f"{digest}: Pulling from username/repository" in out
    assert out.strip().splitlines()[-1] == f"{repo}@{digest}"
    assert image_id(pcli, f"{repo}@{digest}") == imported
    bad = "sha256:" + "0" * 64
    proc = pcli("pull", f"{repo}@{bad}")
    assert proc.returncode == 1 and "manifest unknown" in proc.stderr


@pytest.mark.root
def test_run_on_an_empty_store_pulls_and_runs(pcli: Cli, pushed: str, registry: Registry) -> None:
    """The guide's `docker run username/repository:tag` on a machine that has never seen the image."""
    ok(pcli("rmi", "-f", pushed, "busybox"))
    proc = pcli("run", "--rm", pushed, "echo", "hello from the registry")
    assert proc.returncode == 0, proc.stderr
    assert f"Unable to find image '{pushed}' locally" in proc.stderr
    assert "Pull complete" in proc.stderr
    assert proc.stdout.strip() == "hello from the registry"
    # --pull always fetches again (nothing new); --pull never refuses a missing image
    proc = pcli("run", "--rm", "--pull", "always", pushed, "true")
    assert proc.returncode == 0 and "Status: Image is up to date" in proc.stderr
    proc = pcli("run", "--rm", "--pull", "never", f"{registry.host}/not/here:v1", "true")
    assert proc.returncode == 125 and "No such image" in proc.stderr


@pytest.mark.root
def test_build_from_pulls_a_missing_base(pcli: Cli, pushed: str, tmp_path: Any) -> None:
    ok(pcli("rmi", "-f", pushed, "busybox"))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {pushed}\nRUN echo built > /built\n")
    out = ok(pcli("build", "-t", "child", str(ctx)))
    assert "Pull complete" in out
    assert ok(pcli("run", "--rm", "child", "cat", "/built")).strip() == "built"


@pytest.mark.root
def test_bad_input_one_line_each(pcli: Cli, pushed: str, registry: Registry) -> None:
    repo = pushed.rsplit(":", 1)[0]
    proc = pcli("pull", f"{repo}:nope")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"Error response from daemon: manifest for {repo}:nope not found: "
                                   f"manifest unknown: manifest unknown")
    proc = pcli("pull", f"{registry.host}/no/such/repository")
    assert proc.returncode == 1
    assert "repository does not exist or may require 'docker login'" in proc.stderr
    port = free_port()
    proc = pcli("pull", f"127.0.0.1:{port}/x/y:z")
    assert proc.returncode == 1
    # a registry that never answers: one line that says so, and the way to a first image without one
    assert proc.stderr.strip() == (f"Error response from daemon: cannot reach 127.0.0.1:{port} (connection refused): "
                                   f"to make a busybox image without a registry, run: portside image busybox")
    proc = pcli("push", f"{registry.host}/not/tagged:here")
    assert proc.returncode == 1 and "An image does not exist locally with the tag" in proc.stderr


def _put_manifest(registry: Registry, repo: str, ref: str, body: bytes, media_type: str) -> None:
    req = urllib.request.Request(f"http://{registry.host}/v2/{repo}/manifests/{ref}", data=body, method="PUT",
                                 headers={"Content-Type": media_type})
    urllib.request.urlopen(req, timeout=10).read()


def _get(registry: Registry, path: str, accept: str = "") -> tuple[bytes, Any]:
    req = urllib.request.Request(f"http://{registry.host}{path}", headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read(), r.headers


@pytest.mark.root
def test_manifest_list_for_another_platform_only(pcli: Cli, pushed: str, registry: Registry) -> None:
    body, headers = _get(registry, "/v2/username/repository/manifests/tag",
                         "application/vnd.docker.distribution.manifest.v2+json")
    digest = headers["Docker-Content-Digest"]
    other = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
             "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": len(body),
                            "digest": digest, "platform": {"architecture": "s390x", "os": "linux"}}]}
    _put_manifest(registry, "username/repository", "s390x-only", json.dumps(other).encode(),
                  other["mediaType"])
    from engine.images.archive import goarch
    proc = pcli("pull", f"{registry.host}/username/repository:s390x-only")
    assert proc.returncode == 1
    assert f"no matching manifest for linux/{goarch()} in the manifest list entries" in proc.stderr
    ours = dict(other, manifests=[dict(other["manifests"][0], platform={"architecture": goarch(), "os": "linux"})])
    _put_manifest(registry, "username/repository", "multi", json.dumps(ours).encode(), other["mediaType"])
    ok(pcli("rmi", "-f", pushed, "busybox"))
    out = ok(pcli("pull", f"{registry.host}/username/repository:multi"))
    list_digest = "sha256:" + hashlib.sha256(json.dumps(ours).encode()).hexdigest()
    assert f"Digest: {list_digest}" in out  # the list's digest is what the tag resolves to, as in docker


@pytest.mark.root
def test_a_wrong_byte_is_an_error_and_nothing_is_stored(pcli: Cli, pushed: str, registry: Registry,
                                                        root: str) -> None:
    body, _ = _get(registry, "/v2/username/repository/manifests/tag",
                   "application/vnd.docker.distribution.manifest.v2+json")
    layer = json.loads(body)["layers"][0]["digest"]
    path = registry.blob_path(layer)
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    ok(pcli("rmi", "-f", pushed, "busybox"))
    blobs_dir = os.path.join(root, "images", "blobs", "sha256")
    before = sorted(os.listdir(blobs_dir))
    proc = pcli("pull", pushed)
    assert proc.returncode == 1
    assert f"filesystem layer verification failed for digest {layer}" in proc.stderr \
        or "corrupt compressed data" in proc.stderr, proc.stderr
    assert sorted(os.listdir(blobs_dir)) == before
    assert ok(pcli("images", "-q")).strip() == ""


@pytest.mark.root
def test_registry_killed_mid_push_is_retried_and_resumed(pcli: Cli, imported: str, registry: Registry,
                                                         tmp_path: Any) -> None:
    name = f"{registry.host}/big/image:v1"
    big = make_layered_image(pcli, str(tmp_path), name, [96])
    uploads = os.path.join(registry.storage, "docker/registry/v2/repositories/big/image/_uploads")
    killed = threading.Event()

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for dirpath, _dirs, files in os.walk(uploads):
                if "data" in files and os.path.getsize(os.path.join(dirpath, "data")) > (8 << 20):
                    registry.kill()
                    killed.set()
                    time.sleep(0.5)
                    registry.start()
                    return
            time.sleep(0.005)
    t = threading.Thread(target=killer)
    t.start()
    try:
        proc = pcli("push", name, env={"PORTSIDE_PUSH_GZIP_LEVEL": "1"}, timeout=300)
    finally:
        t.join()
    assert killed.is_set(), "the upload finished before the registry could be killed"
    ok(proc)
    assert "Retrying in" in proc.stdout
    ok(pcli("rmi", "-f", name))
    ok(pcli("pull", name, timeout=300))
    assert image_id(pcli, name) == big


@pytest.mark.root
def test_registry_killed_mid_pull_leaves_no_partial_image(pcli: Cli, imported: str, registry: Registry,
                                                          tmp_path: Any, root: str) -> None:
    name = f"{registry.host}/big/pull:v1"
    big = make_layered_image(pcli, str(tmp_path), name, [160])
    ok(pcli("push", name, env={"PORTSIDE_PUSH_GZIP_LEVEL": "1"}, timeout=300))
    ok(pcli("rmi", "-f", name))
    blobs_dir = os.path.join(root, "images", "blobs", "sha256")
    before = sorted(os.listdir(blobs_dir))
    killed = threading.Event()

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                names = os.listdir(blobs_dir)
            except OSError:
                names = []
            for n in names:
                if n.startswith(".tmp-"):
                    try:
                        if os.path.getsize(os.path.join(blobs_dir, n)) > (4 << 20):
                            registry.kill()
                            killed.set()
                            return
                    except OSError:
                        pass
            time.sleep(0.002)
    t = threading.Thread(target=killer)
    t.start()
    try:
        proc = pcli("pull", name, env={"PORTSIDE_REGISTRY_RETRIES": "2"}, timeout=300)
    finally:
        t.join()
    assert killed.is_set(), "the download finished before the registry could be killed"
    assert proc.returncode == 1, proc.stdout
    assert f"127.0.0.1:{registry.port}" in proc.stderr
    assert sorted(os.listdir(blobs_dir)) == before  # no partial layer, no temp file
    assert name not in ok(pcli("images", "--format", "{{.Repository}}:{{.Tag}}"))
    registry.start()
    ok(pcli("pull", name, timeout=300))
    assert image_id(pcli, name) == big


@pytest.mark.root
def test_chunked_and_oci_push(pcli: Cli, imported: str, registry: Registry) -> None:
    name = f"{registry.host}/chunky/oci:v1"
    ok(pcli("tag", "busybox", name))
    ok(pcli("push", "--oci", name, env={"PORTSIDE_PUSH_CHUNK_SIZE": str(256 << 10)}))
    body, headers = _get(registry, "/v2/chunky/oci/manifests/v1", "application/vnd.oci.image.manifest.v1+json")
    manifest = json.loads(body)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    ok(pcli("rmi", "-f", name, "busybox"))
    ok(pcli("pull", name))
    assert image_id(pcli, name) == imported


# --------------------------------------------------------------------------- basic auth

@pytest.mark.root
@pytest.mark.skipif(not HTPASSWD, reason="needs htpasswd (apache2-utils)")
def test_htpasswd_basic_auth(pcli: Cli, imported: str, start_registry: Callable[..., Registry], tmp_path: Any,
                             docker_config: str) -> None:
    htpasswd = str(tmp_path / "htpasswd")
    subprocess.run([HTPASSWD, "-Bbc", htpasswd, "alice", "s3cret"], check=True, capture_output=True)
    reg = start_registry({"htpasswd": {"realm": "portside-tests", "path": htpasswd}})
    name = f"{reg.host}/alice/app:v1"
    ok(pcli("tag", "busybox", name))
    proc = pcli("push", name)
    assert proc.returncode == 1 and "unauthorized: authentication required" in proc.stderr
    proc = pcli("login", "-u", "alice", "--password-stdin", reg.host, input="wrong\n")
    assert proc.returncode == 1
    assert "unauthorized: incorrect username or password" in proc.stderr
    assert not os.path.exists(os.path.join(docker_config, "config.json"))
    proc = pcli("login", "-u", "alice", "--password-stdin", reg.host, input="s3cret\n")
    assert ok(proc).strip() == "Login Succeeded"
    with open(os.path.join(docker_config, "config.json")) as f:
        auths = json.load(f)["auths"]
    assert base64.b64decode(auths[reg.host]["auth"]).decode() == "alice:s3cret"
    ok(pcli("push", name))
    ok(pcli("rmi", "-f", name, "busybox"))
    ok(pcli("pull", name))
    assert image_id(pcli, name) == imported
    assert ok(pcli("logout", reg.host)).strip() == f"Removing login credentials for {reg.host}"
    proc = pcli("pull", name.replace("v1", "v2"))
    assert proc.returncode == 1 and "unauthorized" in proc.stderr


@pytest.mark.root
@pytest.mark.skipif(not HTPASSWD, reason="needs htpasswd (apache2-utils)")
def test_credential_helper(pcli: Cli, imported: str, start_registry: Callable[..., Registry], tmp_path: Any,
                           docker_config: str) -> None:
    """credsStore: the secret goes through docker-credential-<name> (store / get / erase), not the file."""
    htpasswd = str(tmp_path / "htpasswd")
    subprocess.run([HTPASSWD, "-Bbc", htpasswd, "bob", "pw-bob"], check=True, capture_output=True)
    reg = start_registry({"htpasswd": {"realm": "portside-tests", "path": htpasswd}})
    bindir = tmp_path / "bin"
    bindir.mkdir()
    store = tmp_path / "helper-store.json"
    helper = bindir / "docker-credential-portsidetest"
    helper.write_text(f"""#!/usr/bin/env python3
import json, sys
path = {str(store)!r}
try:
    data = json.load(open(path))
except OSError:
    data = {{}}
action = sys.argv[1]
payload = sys.stdin.read()
if action == "store":
    doc = json.loads(payload); data[doc["ServerURL"]] = doc
elif action == "get":
    doc = data.get(payload.strip())
    if doc is None:
        print("credentials not found in native keychain"); sys.exit(1)
    print(json.dumps(doc)); sys.exit(0)
elif action == "erase":
    data.pop(payload.strip(), None)
json.dump(data, open(path, "w"))
""")
    helper.chmod(0o755)
    with open(os.path.join(docker_config, "config.json"), "w") as f:
        json.dump({"credsStore": "portsidetest"}, f)
    env = {"PATH": f"{bindir}:{os.environ.get('PATH', '')}"}
    ok(pcli("login", "-u", "bob", "-p", "pw-bob", reg.host, env=env))
    assert json.loads(store.read_text())[reg.host]["Secret"] == "pw-bob"
    with open(os.path.join(docker_config, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["auths"][reg.host] == {} and cfg["credsStore"] == "portsidetest"
    name = f"{reg.host}/bob/app:v1"
    ok(pcli("tag", "busybox", name))
    ok(pcli("push", name, env=env))
    ok(pcli("logout", reg.host, env=env))
    assert reg.host not in json.loads(store.read_text())


# --------------------------------------------------------------------------- token auth

class TokenService:
    """A bearer-token realm: RS256 JWTs for ``alice``/``wonderland``, counting requests."""

    def __init__(self, base: str, service: str, issuer: str) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
        self.service, self.issuer = service, issuer
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portside token signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.bundle = os.path.join(base, "token-signer.pem")
        with open(self.bundle, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[dict[str, Any]] = []
        svc = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                auth = self.headers.get("Authorization", "")
                user = ""
                if auth.startswith("Basic "):
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    if (u, p) != ("alice", "wonderland"):
                        self.send_response(401)
                        self.end_headers()
                        self.wfile.write(b'{"details":"incorrect username or password"}')
                        return
                    user = u
                svc.requests.append({"user": user, "scope": q.get("scope", [])})
                access = []
                for scope in q.get("scope", []):
                    typ, name, actions = scope.split(":")
                    granted = actions.split(",") if user == "alice" and name.startswith("alice/") else []
                    access.append({"type": typ, "name": name, "actions": granted})
                body = json.dumps({"token": svc.token(user, access), "expires_in": 300,
                                   "issued_at": datetime.datetime.now(datetime.timezone.utc).isoformat()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, user: str, access: list[dict[str, Any]]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {"iss": self.issuer, "sub": user, "aud": self.service, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64(sig)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.root
def test_token_auth(pcli: Cli, imported: str, start_registry: Callable[..., Registry], tmp_path: Any) -> None:
    pytest.importorskip("cryptography")
    tokens = TokenService(str(tmp_path), "portside-registry", "portside-token-issuer")
    try:
        reg = start_registry({"token": {"realm": tokens.realm, "service": "portside-registry",
                                        "issuer": "portside-token-issuer", "rootcertbundle": tokens.bundle}})
        name = f"{reg.host}/alice/app:v1"
        ok(pcli("tag", "busybox", name))
        proc = pcli("push", name)
        assert proc.returncode == 1 and "unauthorized" in proc.stderr
        proc = pcli("login", "-u", "alice", "-p", "bad", reg.host)
        assert proc.returncode == 1 and "unauthorized: incorrect username or password" in proc.stderr
        ok(pcli("login", "-u", "alice", "-p", "wonderland", reg.host))
        tokens.requests.clear()
        ok(pcli("push", name))
        push_scopes = [tuple(r["scope"]) for r in tokens.requests]
        # one token per scope, reused for every blob, upload and the manifest
        assert len(push_scopes) == len(set(push_scopes)) and len(push_scopes) <= 2, push_scopes
        ok(pcli("rmi", "-f", name, "busybox"))
        ok(pcli("pull", name))
        assert image_id(pcli, name) == imported
        proc = pcli("pull", f"{reg.host}/mallory/app:v1")
        assert proc.returncode == 1
        assert "repository does not exist or may require 'docker login'" in proc.stderr
    finally:
        tokens.stop()


# --------------------------------------------------------------------------- skopeo

@pytest.mark.root
@pytest.mark.skipif(not SKOPEO, reason="needs skopeo")
def test_skopeo_interop_both_ways(pcli: Cli, pushed: str, registry: Registry, imported: str, tmp_path: Any) -> None:
    # Portside pushed → skopeo copies it out (docker-archive keeps the config: same image id) → Portside loads it
    dockerarch = str(tmp_path / "from-registry.docker.tar")
    subprocess.run([SKOPEO, "copy", "--src-tls-verify=false", f"docker://{pushed}",
                    f"docker-archive:{dockerarch}:copied:v1"], check=True, capture_output=True, timeout=120)
    ok(pcli("rmi", "-f", pushed, "busybox"))
    assert "Loaded image: copied:v1" in ok(pcli("load", "-i", dockerarch))
    assert image_id(pcli, "copied:v1") == imported
    # … and to an oci-archive: skopeo rewrites the config as an OCI one (a new id), the layers stay
    oci = str(tmp_path / "from-registry.oci.tar")
    subprocess.run([SKOPEO, "copy", "--src-tls-verify=false", f"docker://{pushed}", f"oci-archive:{oci}:ocicopy:v1"],
                   check=True, capture_output=True, timeout=120)
    ok(pcli("load", "-i", oci))
    layers = json.loads(ok(pcli("image", "inspect", "-f", "{{json .RootFS.Layers}}", "ocicopy:v1")))
    assert layers == json.loads(ok(pcli("image", "inspect", "-f", "{{json .RootFS.Layers}}", "copied:v1")))
    assert ok(pcli("run", "--rm", "ocicopy:v1", "echo", "oci")).strip() == "oci"
    ok(pcli("tag", imported, "busybox"))
    # Portside saves a docker-archive → skopeo pushes it → Portside pulls it
    archive = str(tmp_path / "busybox.docker.tar")
    ok(pcli("save", "--format", "docker-archive", "-o", archive, "busybox"))
    target = f"{registry.host}/from/skopeo:v1"
    subprocess.run([SKOPEO, "copy", "--dest-tls-verify=false", f"docker-archive:{archive}", f"docker://{target}"],
                   check=True, capture_output=True, timeout=120)
    ok(pcli("rmi", "-f", "busybox", "copied:v1"))
    ok(pcli("pull", target))
    assert image_id(pcli, target) == imported
    # and an OCI archive written by Portside is one skopeo reads
    oci2 = str(tmp_path / "portside.oci.tar")
    ok(pcli("save", "--format", "oci-archive", "-o", oci2, target))
    inspect = subprocess.run([SKOPEO, "inspect", "--raw", f"oci-archive:{oci2}"], capture_output=True, text=True,
                             timeout=60)
    assert inspect.returncode == 0, inspect.stderr
    assert json.loads(inspect.stdout)["config"]["digest"] == imported
