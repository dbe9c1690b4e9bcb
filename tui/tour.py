"""``portside tour``: the getting-started guide's steps, walked inside the dashboard.

Each :class:`Step` explains one idea in two or three sentences, says what to do (with the CLI command
that does the same), and is done when :meth:`Step.done` sees it in a :class:`TourState`: what the
dashboard shows (the lists the engine events keep fresh, the pane on screen, the selected row, the
services and tasks, whether the node is a swarm manager), which the app hands in, and a file on disk.
The container steps come first, then the guide's Services part: a compose file for the tour's image,
``swarm init``, ``stack deploy``, five replicas, one killed and replaced, seven, ``stack rm``, ``swarm
leave``. Nothing here talks to the engine or reaches into the app.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .widgets.containers_pane import container_name
from .widgets.services_pane import STACK_LABEL, replicas_of, service_name

__all__ = ["STEPS", "Step", "Tour", "TourState", "TOUR_IMAGE", "TOUR_NAME", "TOUR_PORT", "tour_dir", "has_busybox",
           "DOCKERFILE", "INDEX_HTML", "COMPOSE_FILE", "TOUR_STACK", "TOUR_SERVICE", "compose_text", "write_compose",
           "free_host_port"]

TOUR_IMAGE = "tour-hello"
TOUR_NAME = "tour-hello"
TOUR_PORT = "8080:8000"

DOCKERFILE = """\
# The tour's sample image: busybox's tiny web server serving one page.
FROM busybox
COPY index.html /www/index.html
EXPOSE 8000
# As PID 1, httpd would never receive SIGTERM (it sets no handler), so stop would SIGKILL it (Exited 137):
# sh starts it instead, traps SIGTERM and exits 0 at once.
CMD ["sh", "-c", "trap 'exit 0' TERM; httpd -f -v -p 8000 -h /www & wait"]
"""

INDEX_HTML = "<h1>Hello from a Portside container</h1>\n"


COMPOSE_FILE = "docker-compose.yml"
TOUR_STACK = "getstartedlab"
TOUR_SERVICE = f"{TOUR_STACK}_web"
TOUR_REPLICAS = 5
TOUR_SCALED = 7


def compose_text(host_port: int, image: str = TOUR_IMAGE + ":latest") -> str:
    """The guide's compose file for the tour's image (which serves on port 8000)."""
    return f"""\
version: "3"
services:
  web:
    # the image the tour built; the guide's username/repo:tag
    image: {image}
    deploy:
      replicas: {TOUR_REPLICAS}
      resources:
        limits:
          cpus: "0.1"
          memory: 50M
      restart_policy:
        condition: on-failure
    ports:
      - "{host_port}:8000"
    networks:
      - webnet
networks:
  webnet:
"""


def free_host_port(preferred: int = 80) -> int:
    """``preferred`` if nothing listens there, else a free port the kernel picks."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free TCP port")


def write_compose(directory: str, host_port: int | None = None) -> str:
    """Write :func:`compose_text` as ``directory/docker-compose.yml``; returns the file's path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, COMPOSE_FILE)
    with open(path, "w", encoding="utf-8") as f:
        f.write(compose_text(free_host_port() if host_port is None else host_port))
    return path


def tour_dir() -> str:
    """Where the tour writes its Dockerfile (``PORTSIDE_TOUR_DIR`` overrides ``~/portside-tour``)."""
    return os.environ.get("PORTSIDE_TOUR_DIR") or os.path.join(os.path.expanduser("~"), "portside-tour")


def write_sample(directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "Dockerfile"), "w", encoding="utf-8") as f:
        f.write(DOCKERFILE)
    with open(os.path.join(directory, "index.html"), "w", encoding="utf-8") as f:
        f.write(INDEX_HTML)


@dataclass(frozen=True)
class TourState:
    """What the tour's steps look at, as the dashboard shows it now."""

    directory: str
    """Where the tour writes its Dockerfile."""
    pane: str | None = None
    """The pane on screen: ``containers``, ``images`` or ``resources``."""
    containers: list[dict[str, Any]] = field(default_factory=list)
    containers_loaded: bool = False
    images: list[dict[str, Any]] = field(default_factory=list)
    images_loaded: bool = False
    selected: dict[str, Any] | None = None
    """The container under the cursor in the Containers pane."""
    services: list[dict[str, Any]] = field(default_factory=list)
    """docker service ls (with ``ServiceStatus``)."""
    tasks: list[dict[str, Any]] = field(default_factory=list)
    services_loaded: bool = False
    swarm: bool | None = None
    """This node is a swarm manager (None: not known yet)."""


def _tour_container(state: TourState) -> dict[str, Any] | None:
    return next((c for c in state.containers if container_name(c) == TOUR_NAME), None)


def has_busybox(images: list[dict[str, Any]]) -> bool:
    """Some image is tagged ``busybox`` (the tour's Dockerfile starts ``FROM busybox``)."""
    return any(t.startswith("busybox:") for i in images for t in i.get("RepoTags") or [])


def _has_tour_image(state: TourState) -> bool:
    return any(f"{TOUR_IMAGE}:latest" in (i.get("RepoTags") or []) for i in state.images)


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    explain: str
    todo: str
    done: Callable[[TourState], bool]


def _selected_is_tour(state: TourState) -> bool:
    selected = state.selected
    return state.pane == "containers" and selected is not None and container_name(selected) == TOUR_NAME


def _tour_service(state: TourState) -> dict[str, Any] | None:
    return next((s for s in state.services if service_name(s) == TOUR_SERVICE), None)


def _ready(state: TourState, count: int) -> bool:
    """The tour's service wants ``count`` replicas and has them all running (and healthy, if checked)."""
    service = _tour_service(state)
    if service is None:
        return False
    by_id = {c["Id"]: c for c in state.containers if c.get("Id")}
    replicas = replicas_of(service, state.tasks, by_id)
    return replicas.desired == count and replicas.ready == count


def _healed(state: TourState) -> bool:
    """A replica of the tour's service ended (killed) and all five run again."""
    service = _tour_service(state)
    if service is None:
        return False
    ended = any(t.get("ServiceID") == service.get("ID") and (t.get("Status") or {}).get("State") == "failed"
                for t in state.tasks)
    return ended and _ready(state, TOUR_REPLICAS)


STEPS: tuple[Step, ...] = (
    Step("image", "What an image is",
         "An image is a read-only template: a filesystem plus the command to start in it, stored as layers. "
         "Containers are made from images, and many containers can share one image.",
         "Press 2 to open the Images pane and see the images this engine has.{base}",
         lambda state: state.pane == "images" and state.images_loaded and has_busybox(state.images)),
    Step("dockerfile", "Write a Dockerfile",
         "A Dockerfile is the recipe for an image: FROM picks a base image, COPY adds your files, CMD says "
         "what runs when a container starts. Ours serves one web page with busybox's httpd.",
         "Press w to write {dir}/Dockerfile and index.html (or write them yourself).",
         lambda state: os.path.exists(os.path.join(state.directory, "Dockerfile"))),
    Step("build", "Build it",
         "Building runs the Dockerfile's steps and stores the result as a new image with a name (a tag). "
         "Each step becomes a cached layer, so the next build is faster.",
         "Press b, then enter: the dialog is filled in (context {dir}, tag " + TOUR_IMAGE + ").",
         _has_tour_image),
    Step("run", "Run it with a published port",
         "A container is a running instance of an image, with its own processes, filesystem and network. "
         "-p 8080:8000 publishes its port 8000 on the host's port 8080: once it runs, http://localhost:8080 "
         "opens the page.",
         "Press n, then enter: image " + TOUR_IMAGE + ", name " + TOUR_NAME + " are filled in.",
         lambda state: (c := _tour_container(state)) is not None and c.get("State") == "running"),
    Step("list", "See it in the list",
         "The Containers pane is portside ps -a: every container with its status, ports, CPU and memory. "
         "Press 3 any time to watch the selected container's live resources.",
         "Press 1 and put the cursor on " + TOUR_NAME + " (j/k move).",
         _selected_is_tour),
    Step("stop", "Stop it",
         "Stopping sends the container its stop signal (SIGTERM) and, if it still runs 10 s later, SIGKILL: "
         "then it shows Exited (137), 128 + 9 for SIGKILL. The kernel gives a PID 1 no default signal actions, "
         "so a server that sets no SIGTERM handler never gets it (Portside then kills it at once); our image's sh "
         "traps SIGTERM and exits 0 at once. "
         "Its files stay until you remove it, so a stopped container can start again.",
         "Press s on " + TOUR_NAME + ".",
         lambda state: (c := _tour_container(state)) is not None and c.get("State") in ("exited", "dead")),
    Step("remove", "Remove it",
         "Removing deletes the container and its writable layer; the image stays, ready to run again. "
         "That is the whole cycle: Dockerfile, image, container, gone.",
         "Press ctrl+d (or x) on " + TOUR_NAME + ", then y.",
         lambda state: _tour_container(state) is None and state.containers_loaded),
    # the guide's second half: services
    Step("compose", "Describe a service in a compose file",
         "A service is a container in production: one image, run as many replicas as you ask, restarted when "
         "they fail, behind one published port. A docker-compose.yml says all that; ours runs " + TOUR_IMAGE +
         f" as {TOUR_REPLICAS} replicas limited to 10 % of a CPU and 50 MB each, on the network webnet.",
         "Press w to write {dir}/" + COMPOSE_FILE + " (host port 80, or a free one if 80 is taken).",
         lambda state: os.path.exists(os.path.join(state.directory, COMPOSE_FILE))),
    Step("swarm", "Turn on swarm mode",
         "Services run on a swarm: a manager keeps every service at the state you asked for. A Portside node "
         "is a single-node manager; the Services pane (4) shows its stacks and services.",
         "Press 4, then I and y (portside swarm init --advertise-addr 127.0.0.1).",
         lambda state: state.swarm is True),
    Step("deploy", "Deploy the stack",
         "A stack is the compose file's services, networks and secrets, deployed together and named "
         f"{TOUR_STACK}_<name>. The file's service web becomes {TOUR_SERVICE}.",
         f"Press d, then enter: the file and the name {TOUR_STACK} are filled in "
         f"(portside stack deploy -c {COMPOSE_FILE} {TOUR_STACK}).",
         lambda state: _tour_service(state) is not None),
    Step("replicas", "Watch the replicas come up",
         "The swarm starts one task per replica; each task runs one container. The REPLICAS bar goes green as "
         "they run; enter on the service lists its tasks with their state, CPU and memory.",
         f"Wait for {TOUR_REPLICAS}/{TOUR_REPLICAS}; press enter on {TOUR_SERVICE} to see its tasks "
         f"(portside service ps {TOUR_SERVICE}).",
         lambda state: _ready(state, TOUR_REPLICAS)),
    Step("heal", "Kill one, watch it come back",
         "The manager notices a task whose container died and starts a new task in the same slot: the service "
         "heals itself. The dead one stays in the task history (restart_policy: on-failure).",
         f"Press enter on {TOUR_SERVICE}, put the cursor on a replica and press K (portside kill <container>); "
         "the line under the title says when it was replaced. esc goes back.",
         _healed),
    Step("scale", "Scale it",
         "Scaling changes the number of replicas: the swarm starts or stops tasks to match, and the published "
         "port balances across all of them.",
         f"On {TOUR_SERVICE} press + twice, or s and {TOUR_SCALED} "
         f"(portside service scale {TOUR_SERVICE}={TOUR_SCALED}).",
         lambda state: _ready(state, TOUR_SCALED)),
    Step("stack-rm", "Take down the app",
         "Removing the stack removes its services, their tasks and containers, and its network; the image "
         "stays.",
         f"Put the cursor on the stack {TOUR_STACK} and press x, then y (portside stack rm {TOUR_STACK}).",
         lambda state: state.services_loaded and state.swarm is not None and not any(
             ((s.get("Spec") or {}).get("Labels") or {}).get(STACK_LABEL) == TOUR_STACK for s in state.services)),
    Step("leave", "Take down the swarm",
         "Leaving the swarm turns the node back into a plain engine: every service goes, and the host is as "
         "before swarm init.",
         "Press L, then y (portside swarm leave --force).",
         lambda state: state.swarm is False),
)


class Tour:
    """Where the user is in :data:`STEPS`."""

    def __init__(self, directory: str, config_file: str = "") -> None:
        self.directory = directory
        self.config_file = config_file
        self.index = 0
        self.needs_busybox = False
        """No ``busybox`` image yet: the first step offers to make one (the app keeps this fresh)."""

    @property
    def finished(self) -> bool:
        return self.index >= len(STEPS)

    @property
    def step(self) -> Step | None:
        return None if self.finished else STEPS[self.index]

    def text(self, template: str) -> str:
        base = (" This engine has no busybox yet, the base image the tour's Dockerfile starts FROM: press B to "
                "make one from the host's busybox (portside image busybox), no network needed."
                if self.needs_busybox else "")
        return template.format(dir=self.directory, base=base).strip()

    def finished_text(self) -> str:
        where = f"The sample files stay in {self.directory}"
        if self.config_file:
            where += f"; the theme you pick (ctrl+p, then theme) is saved in {self.config_file}"
        return where + "."

    def advance(self, state: TourState) -> bool:
        """Move past every step already done in ``state``; True if the step changed."""
        moved = False
        while (step := self.step) is not None and step.done(state):
            self.index += 1
            moved = True
        return moved

    def skip(self) -> None:
        if not self.finished:
            self.index += 1
