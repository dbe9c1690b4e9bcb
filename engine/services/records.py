"""What every service may ask about a container without depending on the containers service: its id
for a name or prefix, and how it is doing (its monitor's ``state.json``, corrected for a dead monitor).
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..config import Paths
from ..errors import ContainerNotFound, InvalidArgument
from ..runtime import cleanup
from ..runtime.proc import proc_start_time
from ..state import State


def rfc3339_now() -> str:
    from ..runtime.monitor import now_rfc3339
    return now_rfc3339()


def pid_alive(pid: int, start: int | None = None) -> bool:
    """Whether process ``pid`` runs (and, given ``start``, is the one that started then), not a zombie."""
    if pid <= 0:
        return False
    st = proc_start_time(pid)
    if not st:
        return False
    if start and st != start:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rindex(b")") + 2:data.rindex(b")") + 3] != b"Z"
    except OSError:
        return False


class ContainerRecords:
    """Container lookup and runtime state over the store and the containers' folders."""

    def __init__(self, state: State, paths: Paths) -> None:
        self.state = state
        self.paths = paths

    def resolve(self, name_or_id: str) -> str:
        """A container id for a name, an id or a unique id prefix."""
        name = name_or_id.lstrip("/")
        if not name:
            raise ContainerNotFound(f"No such container: {name_or_id}")
        cid = self.state.container_by_name(name)
        if cid:
            return cid
        if re.fullmatch(r"[0-9a-f]+", name):
            ids = self.state.container_ids_with_prefix(name)
            if len(ids) == 1:
                return ids[0]
            if len(ids) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {name}")
        raise ContainerNotFound(f"No such container: {name_or_id}", container=name_or_id)

    def runtime_state(self, cid: str) -> dict[str, Any]:
        """The monitor's view, corrected for a monitor that died without recording the end."""
        st: dict[str, Any] = cleanup.read_state(self.paths.container(cid))
        if st.get("status") in ("running", "restarting"):
            mon_alive = pid_alive(st.get("monitor_pid", 0), st.get("monitor_start"))
            if not mon_alive:
                if st.get("status") == "running" and pid_alive(st.get("pid", 0), st.get("pid_start")):
                    return st  # orphaned but still running: stop/kill still reach it by pid
                st = dict(st, status="exited", pid=0, exit_code=st.get("exit_code") or 255 if st.get(
                    "status") == "running" else st.get("exit_code", 0))
                if not st.get("finished_at") or st["finished_at"].startswith("0001"):
                    # record the end once, so "Exited (255) 3 minutes ago" keeps its time
                    st["finished_at"] = rfc3339_now()
                    from ..runtime.monitor import write_json
                    try:
                        write_json(os.path.join(self.paths.container(cid), "state.json"), dict(st, monitor_pid=0))
                    except OSError:
                        pass
        return st

    def status(self, cid: str) -> str:
        """``created``, ``running``, ``restarting`` or ``exited``."""
        return str(self.runtime_state(cid).get("status") or "created")
