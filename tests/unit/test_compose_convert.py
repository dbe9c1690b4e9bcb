"""Compose → service specs (engine.compose.convert): what `docker stack deploy` sends for the same file."""

from __future__ import annotations

import os

import pytest

from engine.compose import convert, load, validate

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

#: what docker CLI 28.2.2's `stack deploy -c docker-compose.yml getstartedlab` sent for GUIDE
GUIDE_NETWORK = {"Driver": "overlay", "Scope": "", "IPAM": None, "Internal": False, "Attachable": False,
                 "Ingress": False, "ConfigOnly": False, "ConfigFrom": None, "Options": None,
                 "Labels": {"com.docker.stack.namespace": "getstartedlab"}, "Name": "getstartedlab_webnet"}
GUIDE_SERVICE = {
    "Name": "getstartedlab_web",
    "Labels": {"com.docker.stack.image": "username/repo:tag", "com.docker.stack.namespace": "getstartedlab"},
    "TaskTemplate": {
        "ContainerSpec": {"Image": "username/repo:tag", "Labels": {"com.docker.stack.namespace": "getstartedlab"},
                          "Privileges": {"CredentialSpec": None, "SELinuxContext": None, "NoNewPrivileges": False}},
        "Resources": {"Limits": {"NanoCPUs": 100000000, "MemoryBytes": 52428800}},
        "RestartPolicy": {"Condition": "on-failure"}, "Placement": {},
        "Networks": [{"Target": "getstartedlab_webnet", "Aliases": ["web"]}], "ForceUpdate": 0},
    "Mode": {"Replicated": {"Replicas": 5}},
    "EndpointSpec": {"Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 80,
                                "PublishMode": "ingress"}]}}


def write(tmp_path: os.PathLike[str], text: str, name: str = "docker-compose.yml") -> str:
    path = os.path.join(tmp_path, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_guide_file_converts_to_what_docker_sends(tmp_path: os.PathLike[str]) -> None:
    project = load([write(tmp_path, GUIDE)], env={})
    assert validate(project) == []
    plan = convert(project, "getstartedlab")
    assert plan.networks == {"getstartedlab_webnet": GUIDE_NETWORK}
    assert plan.services == {"getstartedlab_web": GUIDE_SERVICE}
    assert plan.external_networks == [] and plan.secrets == {} and plan.configs == {}


@pytest.mark.parametrize("text, message", [
    ("replicas: five", "services.web.deploy.replicas must be an integer"),
    ("replicas: -1", "services.web.deploy.replicas must be at least 0 (got -1)"),
])
def test_bad_replicas_is_one_line(tmp_path: os.PathLike[str], text: str, message: str) -> None:
    path = write(tmp_path, GUIDE.replace("replicas: 5", text))
    with pytest.raises(Exception) as info:
        validate(load([path], env={}))
    assert str(info.value) == message
