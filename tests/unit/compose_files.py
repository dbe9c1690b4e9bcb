"""Compose files shared by the compose tests, and the real docker CLI run against them.

``docker_stack_deploy`` runs the real docker CLI's ``stack deploy`` against an endpoint that answers
through a handler (the Engine API routes stack deploy calls, answered as a swarm manager would) and
records what the CLI sends: the reference for what :func:`engine.compose.specs` must produce.
``docker_stack_config`` runs ``docker stack config`` (no daemon needed): docker's merged, interpolated
model of the same files.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import socketserver
import subprocess
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

DOCKER_CLI = "/usr/local/bin/docker" if os.access("/usr/local/bin/docker", os.X_OK) else (shutil.which("docker") or "")

#: the getting-started guide's file ("Services")
GUIDE = """\
version: "3"
services:
  web:
    # replace username/repo:tag with your name and image details
    image: username/repo:tag
    deploy:
      replicas: 5
      resources:
        limits:
          cpus: "0.1"
          memory: 50M
      restart_policy:
        condition: on-failure
    ports:
      - "80:80"
    networks:
      - webnet
networks:
  webnet:
"""

#: most keys a stack honours, in both syntaxes where there are two
FULL = """\
version: "3.13"
services:
  web:
    image: nginx:alpine
    command: ["nginx", "-g", "daemon off;"]
    entrypoint: /docker-entrypoint.sh
    environment:
      - Z=last
      - EMPTY=
      - BARE
      - PASS
    env_file: web.env
    labels:
      app: web
      tier: "1"
    hostname: webhost
    user: "101:101"
    working_dir: /srv
    stop_signal: SIGQUIT
    stop_grace_period: 1m30s
    init: true
    healthcheck:
      test: wget -q -O- http://localhost/ || exit 1
      interval: 5s
      timeout: 2s
      retries: 3
      start_period: 10s
    ports:
      - "8080-8081:80-81"
      - "53:53/udp"
      - 9000
      - target: 443
        published: 8443
        protocol: tcp
        mode: host
    networks:
      front:
        aliases: [www, site]
      back:
    volumes:
      - data:/var/lib/data
      - ./data:/data:ro
      - /etc/hosts:/etc/hosts2:ro,rslave
      - type: tmpfs
        target: /run/cache
        tmpfs:
          size: 1000000
      - type: volume
        source: cache
        target: /cache
        volume:
          nocopy: true
      - /anon
    secrets:
      - db_pass
      - source: api_key
        target: /etc/api.key
        uid: "100"
        gid: "101"
        mode: 0400
    configs:
      - app_conf
    extra_hosts:
      - "somehost:10.0.0.1"
    dns: 8.8.8.8
    cap_add: [net_admin]
    sysctls:
      net.core.somaxconn: 1024
    ulimits:
      nofile:
        soft: 1000
        hard: 2000
      nproc: 65535
    deploy:
      mode: replicated
      replicas: 2
      endpoint_mode: vip
      labels:
        - com.example.desc=web tier
      resources:
        limits:
          cpus: "0.5"
          memory: 128M
          pids: 100
        reservations:
          cpus: "0.25"
          memory: 64M
      restart_policy:
        condition: any
        delay: 0s
        max_attempts: 3
        window: 2m
      placement:
        constraints: [node.role == manager]
        preferences:
          - spread: node.labels.zone
      update_config:
        parallelism: 2
        delay: 10s
        failure_action: rollback
        monitor: 30s
        max_failure_ratio: 0.25
        order: start-first
      rollback_config:
        parallelism: 0
        order: stop-first
  worker:
    image: busybox
    command: sleep 3600
    deploy:
      mode: global
      endpoint_mode: dnsrr
    restart: on-failure:3
  job:
    image: busybox:1.36
    deploy:
      mode: replicated
networks:
  front:
    driver: overlay
    attachable: true
    labels:
      team: web
    driver_opts:
      encrypted: "true"
  back:
    ipam:
      config:
        - subnet: 10.20.0.0/24
  unused:
  outside:
    external: true
    name: host_net
volumes:
  data:
    labels: [k=v]
  cache:
    driver: local
    driver_opts:
      type: tmpfs
      device: tmpfs
secrets:
  db_pass:
    file: ./secret.txt
  api_key:
    file: secret.txt
    labels:
      kind: key
  ext:
    external: true
configs:
  app_conf:
    file: ./app.conf
"""

#: the variables FULL reads from the environment
FULL_ENV = {"PASS": "frompass"}

#: a second file over FULL: what each kind of key does when merged
OVERRIDE = """\
version: "3.13"
services:
  web:
    image: nginx:1.27
    command: ["nginx", "-T"]
    environment:
      Z: overridden
      NEW: "1"
    labels:
      tier: "2"
    ports:
      - "8080:8000"
      - "7000:70"
    volumes:
      - ./other:/data
    networks:
      front:
        aliases: [www2]
    dns: [1.1.1.1]
    secrets:
      - source: db_pass
        target: renamed
    deploy:
      replicas: 4
      resources:
        limits:
          memory: 256M
      placement:
        constraints: [node.labels.x == y]
  extra:
    image: redis
networks:
  back:
    driver: bridge
"""

#: the keys FULL leaves out: logging, credential spec, the container flags, external volume, internal
#: network with ipam driver, templated secret, generic resources, global-job, the legacy restart values
EXTRA = """\
version: "3.13"
services:
  app:
    image: registry.local:5000/team/app@sha256:0123456789012345678901234567890123456789012345678901234567890123
    logging:
      driver: json-file
      options:
        max-size: 10m
        max-file: 3
    credential_spec:
      registry: my-spec
    read_only: true
    tty: true
    stdin_open: true
    isolation: default
    oom_score_adj: 500
    cap_drop: [ALL]
    cap_add: [CAP_CHOWN, kill]
    dns_search: example.com
    labels: [a=1, b]
    volumes:
      - ext:/ext
      - type: bind
        source: ~/cfg
        target: /cfg
    networks:
      - internal_net
    secrets:
      - source: tmpl
    deploy:
      endpoint_mode: dnsrr
      resources:
        reservations:
          generic_resources:
            - discrete_resource_spec:
                kind: gpu
                value: 2
      placement:
        max_replicas_per_node: 1
      rollback_config:
        failure_action: pause
  agent:
    image: busybox:1.36
    entrypoint: ["/bin/sh", "-c"]
    command: echo "hello world" 'and more'
    deploy:
      mode: global-job
  once:
    image: busybox:1.36
    restart: "no"
    cap_add: [ALL, net_admin]
    cap_drop: [net_admin, chown, reset]
  always:
    image: busybox:1.36
    restart: unless-stopped
networks:
  internal_net:
    internal: true
    ipam:
      driver: default
      config:
        - subnet: 10.30.0.0/24
volumes:
  ext:
    external: true
    name: shared_data
secrets:
  tmpl:
    file: s.txt
    template_driver: golang
"""
EXTRA_ENV = {"HOME": "/home/someone"}


def write(directory: str | os.PathLike[str], text: str, name: str = "docker-compose.yml") -> str:
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def write_full(directory: str | os.PathLike[str]) -> str:
    """FULL and the files it names (env_file, a secret, a config, a bind source)."""
    write(directory, "A=1\nB=two words\n# a comment\nPASS\n", "web.env")
    write(directory, "s3cr3t\n", "secret.txt")
    write(directory, "listen 80;\n", "app.conf")
    os.makedirs(os.path.join(directory, "data"), exist_ok=True)
    return write(directory, FULL)


def write_extra(directory: str | os.PathLike[str]) -> str:
    write(directory, "x\n", "s.txt")
    return write(directory, EXTRA)


class _Manager(BaseHTTPRequestHandler):
    """Answers the routes ``docker stack deploy`` calls as an empty swarm manager; records the bodies."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def _reply(self, obj: Any, status: int = 200) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", "1.50")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Api-Version", "1.50")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")[1:]  # without the /v1.50
        if parts == ["_ping"]:
            self.do_HEAD()
            return
        if parts == ["info"]:
            self._reply({"Swarm": {"ControlAvailable": True, "LocalNodeState": "active", "NodeID": "node1"}})
            return
        if parts and parts[0] in ("secrets", "configs"):
            objects = self.server.objects[parts[0]]
            if len(parts) == 1:
                self._reply(list(objects.values()))
                return
            for obj in objects.values():
                if parts[1] in (obj["ID"], obj["Spec"]["Name"]):
                    self._reply(obj)
                    return
            self._reply({"message": "not found"}, 404)
            return
        self._reply([])

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(size) or b"null")
        parts = self.path.split("?")[0].strip("/").split("/")[1:]
        if len(parts) == 2 and parts[1] == "create" and parts[0] in self.server.sent:
            self.server.sent[parts[0]][body["Name"]] = body
            if parts[0] in self.server.objects:
                oid = f"{parts[0][:-1]}-{body['Name']}"
                self.server.objects[parts[0]][oid] = {"ID": oid, "Spec": body}
                self._reply({"ID": oid}, 201)
            elif parts[0] == "networks":
                self._reply({"Id": "net-" + body["Name"], "Warning": ""}, 201)
            else:
                self._reply({"ID": "svc-" + body["Name"], "Warnings": None}, 201)
            return
        self._reply({"message": f"unexpected {self.path}"}, 500)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    sent: dict[str, dict[str, Any]]
    objects: dict[str, dict[str, Any]]


def docker_stack_deploy(directory: str, files: list[str], namespace: str, env: dict[str, str],
                        cli: list[str] | None = None) -> dict[str, Any]:
    """What the docker CLI (or ``cli``, another command line taking docker's flags) sends for ``stack
    deploy -c FILE… NAMESPACE``: {networks, secrets, configs, services: {name: body}}, and what it printed
    on stderr ("stderr")."""
    sock = os.path.join(directory, "manager.sock")
    server = _Server(sock, _Manager)
    server.sent = {"networks": {}, "secrets": {}, "configs": {}, "services": {}}
    server.objects = {"secrets": {}, "configs": {}}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        args = [*(cli or [DOCKER_CLI]), "-H", f"unix://{sock}", "stack", "deploy", "--detach", "--resolve-image",
                "never"]
        for f in files:
            args += ["-c", f]
        done = subprocess.run([*args, namespace], cwd=directory, capture_output=True, text=True, timeout=60,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": directory,
                                   "DOCKER_HOST": f"unix://{sock}", **env})
        assert done.returncode == 0, done.stderr
        server.sent["stderr"] = done.stderr  # type: ignore[assignment]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        os.unlink(sock)
    return server.sent


def docker_stack_config(directory: str, files: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    args = [DOCKER_CLI, "stack", "config"]
    for f in files:
        args += ["-c", f]
    return subprocess.run(args, cwd=directory, capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": directory, **env})


@functools.lru_cache(maxsize=1)
def docker_version() -> tuple[int, ...]:
    """The docker CLI's version (``Docker version 28.2.2, build …``: no daemon asked), () without one."""
    if not DOCKER_CLI:
        return ()
    done = subprocess.run([DOCKER_CLI, "--version"], capture_output=True, text=True, timeout=30)
    match = re.search(r"version (\d+)\.(\d+)\.(\d+)", done.stdout)
    return tuple(int(p) for p in match.groups()) if match else ()


needs_docker_28 = pytest.mark.skipif(docker_version() < (28,), reason="needs the docker CLI 28 or newer")
