"""SQLite store (WAL) for images, tags, containers, volumes, build cache, events, networks, IP
allocations and swarm mode (the swarm, its services, tasks, secrets and configs). All of the engine's
SQL is here.

Every write runs in its own short ``BEGIN IMMEDIATE`` transaction, so two CLI commands running at
once serialise on SQLite's lock instead of corrupting each other. Rows hold JSON documents shaped
like the Docker Engine API's, so listing needs no joins.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY, parent TEXT, created REAL, size INTEGER, intermediate INTEGER DEFAULT 0,
    doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tags (ref TEXT PRIMARY KEY, image_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, image_id TEXT, created REAL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS volumes (name TEXT PRIMARY KEY, created REAL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS build_cache (key TEXT PRIMARY KEY, image_id TEXT NOT NULL, created REAL);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL, doc TEXT);
"""
# networks and IPAM (engine/network): a second script, so data roots made before it get the tables too
NETWORK_SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, created REAL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ip_allocations (
    network_id TEXT NOT NULL, address TEXT NOT NULL, container_id TEXT NOT NULL, PRIMARY KEY (network_id, address));
CREATE INDEX IF NOT EXISTS ip_allocations_container ON ip_allocations(container_id);
"""
# swarm mode (engine/services/swarm.py): one swarm row, then docker's objects. Every change takes the
# next value of the swarm's counter (``Version.Index``, as docker's raft index).
SWARM_SCHEMA = """
CREATE TABLE IF NOT EXISTS swarm (
    one INTEGER PRIMARY KEY CHECK (one = 1), cluster_id TEXT NOT NULL, node_id TEXT NOT NULL,
    version INTEGER NOT NULL, counter INTEGER NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,
    spec TEXT NOT NULL, join_tokens TEXT NOT NULL, unlock_key TEXT NOT NULL DEFAULT '', node TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS services (
    id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, version INTEGER NOT NULL, created TEXT NOT NULL,
    updated TEXT NOT NULL, spec TEXT NOT NULL, previous_spec TEXT, endpoint TEXT, update_status TEXT);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, service_id TEXT NOT NULL, slot INTEGER NOT NULL, node_id TEXT NOT NULL,
    version INTEGER NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL, spec TEXT NOT NULL,
    status TEXT NOT NULL, desired_state TEXT NOT NULL, container_id TEXT NOT NULL DEFAULT '',
    doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_service ON tasks(service_id, slot);
CREATE TABLE IF NOT EXISTS secrets (
    id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, version INTEGER NOT NULL, created TEXT NOT NULL,
    updated TEXT NOT NULL, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS configs (
    id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, version INTEGER NOT NULL, created TEXT NOT NULL,
    updated TEXT NOT NULL, spec TEXT NOT NULL);
"""
SWARM_TABLES = ("tasks", "services", "secrets", "configs", "swarm")
SERVICE_COLUMNS = "id, name, version, created, updated, spec, previous_spec, endpoint, update_status"
TASK_COLUMNS = ("id, service_id, slot, node_id, version, created, updated, spec, status, desired_state, "
                "container_id, doc")


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


class State:
    """A connection to one data root's database."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.db = self._connect()
        self._use_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name='events'").fetchone():
            self.db.executescript(SCHEMA)
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name='ip_allocations'").fetchone():
            self.db.executescript(NETWORK_SCHEMA)
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name='configs'").fetchone():
            self.db.executescript(SWARM_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=30000")
        return db

    def _use_wal(self) -> None:
        """Switch a new database to WAL. The switch needs the database to itself and sqlite answers
        "database is locked" at once, busy timeout or not, while another process opens it too (the
        first CLI calls on a new data root, at the same time): retried until one of them has done it."""
        deadline = time.monotonic() + 30
        while True:
            try:  # (reading the mode can meet the same lock while another process switches it)
                if self.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal" or \
                        self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal":
                    return
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
            except sqlite3.DatabaseError:
                # "file is not a database": the first read of a new data root's file can meet another
                # process creating it; the connection keeps that answer, so a new one asks again. A
                # file that really is not a database is reported after 2 s.
                if time.monotonic() > deadline - 28:
                    raise
                self.db.close()
                self.db = self._connect()
            if time.monotonic() > deadline:
                return  # a filesystem without WAL: sqlite's own journal mode stands
            time.sleep(0.01)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction; inside another one, it joins it.

        Joining lets a caller check and change several rows under one lock (``rmi`` deciding that no
        tag and no container refers to an image, then deleting it) with the methods below.
        """
        if self.db.in_transaction:
            yield self.db
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    # -- images ---------------------------------------------------------------------------------
    def put_image(self, image_id: str, doc: dict[str, Any], *, parent: str = "", intermediate: bool = False) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO images(id, parent, created, size, intermediate, doc) VALUES (?,?,?,?,?,?)",
                (image_id, parent, doc.get("CreatedUnix", time.time()), doc.get("Size", 0), int(intermediate),
                 json.dumps(doc)),
            )

    def image(self, image_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT doc FROM images WHERE id=?", (image_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def image_rows(self) -> list[tuple[str, str, int, dict[str, Any]]]:
        """(id, parent, intermediate, doc) for every image."""
        rows = self.db.execute("SELECT id, parent, intermediate, doc FROM images ORDER BY created DESC").fetchall()
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def image_ids_with_prefix(self, prefix: str) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT id FROM images WHERE id >= ? AND id < ?", (prefix, prefix + "\x7f")).fetchall()]

    def delete_image(self, image_id: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM images WHERE id=?", (image_id,))
            db.execute("DELETE FROM tags WHERE image_id=?", (image_id,))
            db.execute("DELETE FROM build_cache WHERE image_id=?", (image_id,))

    def image_intermediate(self, image_id: str) -> bool:
        row = self.db.execute("SELECT intermediate FROM images WHERE id=?", (image_id,)).fetchone()
        return bool(row and row[0])

    def children(self, image_id: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM images WHERE parent=?", (image_id,)).fetchall()]

    # -- tags -----------------------------------------------------------------------------------
    def set_tag(self, ref: str, image_id: str) -> str | None:
        """Point ``ref`` at ``image_id``; returns the image it pointed at before, if any."""
        with self.tx() as db:
            row = db.execute("SELECT image_id FROM tags WHERE ref=?", (ref,)).fetchone()
            db.execute("INSERT OR REPLACE INTO tags(ref, image_id) VALUES (?,?)", (ref, image_id))
        return row[0] if row and row[0] != image_id else None

    def tag(self, ref: str) -> str | None:
        row = self.db.execute("SELECT image_id FROM tags WHERE ref=?", (ref,)).fetchone()
        return row[0] if row else None

    def tags_of(self, image_id: str) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT ref FROM tags WHERE image_id=? ORDER BY ref", (image_id,)).fetchall()]

    def all_tags(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for ref, image_id in self.db.execute("SELECT ref, image_id FROM tags ORDER BY ref"):
            out.setdefault(image_id, []).append(ref)
        return out

    def delete_tag(self, ref: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM tags WHERE ref=?", (ref,))

    # -- containers -----------------------------------------------------------------------------
    def insert_container(self, cid: str, name: str, image_id: str, doc: dict[str, Any]) -> bool:
        """Add a container's row; False (and nothing written) when another container has the name."""
        try:
            with self.tx() as db:
                db.execute("INSERT INTO containers(id, name, image_id, created, doc) VALUES (?,?,?,?,?)",
                           (cid, name, image_id, time.time(), json.dumps(doc)))
        except sqlite3.IntegrityError:
            return False
        return True

    def update_container(self, cid: str, doc: dict[str, Any], name: str | None = None) -> None:
        with self.tx() as db:
            if name is None:
                db.execute("UPDATE containers SET doc=? WHERE id=?", (json.dumps(doc), cid))
            else:
                db.execute("UPDATE containers SET doc=?, name=? WHERE id=?", (json.dumps(doc), name, cid))

    def container(self, cid: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT doc FROM containers WHERE id=?", (cid,)).fetchone()
        return json.loads(row[0]) if row else None

    def container_by_name(self, name: str) -> str | None:
        row = self.db.execute("SELECT id FROM containers WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def container_ids_with_prefix(self, prefix: str) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT id FROM containers WHERE id >= ? AND id < ?", (prefix, prefix + "\x7f")).fetchall()]

    def containers(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self.db.execute("SELECT doc FROM containers ORDER BY created DESC")]

    def container_fields(self, paths: Sequence[str]) -> list[tuple[str, list[Any]]]:
        """(id, values) of every container, newest first: the value at each JSON path (``$.Config.Image``)
        of its document, null where the path is missing.

        One query, and only these parts of each document are decoded (SQLite picks them out), so a
        listing does not parse whole inspect documents.
        """
        picks = ", ".join("?" for _ in paths)
        pick = f"json_extract(doc, {picks})" if len(paths) > 1 else f"json_array(json_extract(doc, {picks}))"
        rows = self.db.execute(f"SELECT id, {pick} FROM containers ORDER BY created DESC", tuple(paths))
        return [(r[0], json.loads(r[1])) for r in rows]

    def containers_using_image(self, image_id: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM containers WHERE image_id=?", (image_id,))]

    def delete_container(self, cid: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM containers WHERE id=?", (cid,))

    # -- volumes --------------------------------------------------------------------------------
    def put_volume(self, name: str, doc: dict[str, Any]) -> bool:
        """Create the volume row if missing; True when it was created."""
        with self.tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO volumes(name, created, doc) VALUES (?,?,?)",
                             (name, time.time(), json.dumps(doc)))
            return cur.rowcount > 0

    def volume(self, name: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT doc FROM volumes WHERE name=?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def volumes(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self.db.execute("SELECT doc FROM volumes ORDER BY name")]

    def volume_users(self, name: str) -> list[str]:
        """Ids of the containers that mount volume ``name``, oldest first."""
        rows = self.db.execute("SELECT id, doc FROM containers WHERE instr(doc, ?) > 0 ORDER BY created",
                               (name,)).fetchall()
        return [r[0] for r in rows if any(m.get("Name") == name for m in json.loads(r[1]).get("Mounts") or [])]

    def delete_volume(self, name: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM volumes WHERE name=?", (name,))

    # -- build cache ----------------------------------------------------------------------------
    def cache_get(self, key: str) -> str | None:
        row = self.db.execute("SELECT image_id FROM build_cache WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def cache_put(self, key: str, image_id: str) -> None:
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO build_cache(key, image_id, created) VALUES (?,?,?)",
                       (key, image_id, time.time()))

    def cache_rows(self) -> list[tuple[str, str]]:
        """(key, image id) of every build cache entry."""
        return [(r[0], r[1]) for r in self.db.execute("SELECT key, image_id FROM build_cache").fetchall()]

    def cache_delete(self, key: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM build_cache WHERE key=?", (key,))

    def cache_delete_image(self, image_id: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM build_cache WHERE image_id=?", (image_id,))

    # -- events ---------------------------------------------------------------------------------
    def emit(self, type_: str, action: str, actor_id: str, attrs: dict[str, str]) -> None:
        """Record one event as dockerd's /events gives it (whole-second ``time``, ``timeNano``, the
        legacy ``status``/``id``/``from`` of container events)."""
        now = time.time()
        doc: dict[str, Any] = {"Type": type_, "Action": action, "Actor": {"ID": actor_id, "Attributes": attrs},
                               "scope": "local", "time": int(now), "timeNano": int(now * 1e9)}
        if type_ == "container":
            doc.update(status=action, id=actor_id, **({"from": attrs["image"]} if "image" in attrs else {}))
        self.add_event(doc)

    def add_event(self, doc: dict[str, Any]) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO events(time, doc) VALUES (?,?)", (doc.get("time", time.time()), json.dumps(doc)))

    def last_event_seq(self) -> int:
        row = self.db.execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def events_after(self, seq: int) -> list[tuple[int, dict[str, Any]]]:
        return [(r[0], json.loads(r[1])) for r in self.db.execute(
            "SELECT seq, doc FROM events WHERE seq > ? ORDER BY seq", (seq,))]

    def events_since(self, since: float, until: float | None = None) -> list[dict[str, Any]]:
        q = "SELECT doc FROM events WHERE time >= ?" + (" AND time <= ?" if until is not None else "") + " ORDER BY seq"
        args = (since,) if until is None else (since, until)
        return [json.loads(r[0]) for r in self.db.execute(q, args)]

    # -- networks -------------------------------------------------------------------------------
    def networks(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self.db.execute("SELECT doc FROM networks ORDER BY created")]

    def insert_network(self, doc: dict[str, Any]) -> bool:
        """Add a network's row; False (and nothing written) when another network has the name."""
        try:
            with self.tx() as db:
                db.execute("INSERT INTO networks(id, name, created, doc) VALUES (?,?,?,?)",
                           (doc["Id"], doc["Name"], time.time(), json.dumps(doc)))
        except sqlite3.IntegrityError:
            return False
        return True

    def update_network(self, doc: dict[str, Any]) -> None:
        with self.tx() as db:
            db.execute("UPDATE networks SET doc=? WHERE id=?", (json.dumps(doc), doc["Id"]))

    def delete_network(self, network_id: str) -> None:
        """The network's row and its address allocations."""
        with self.tx() as db:
            db.execute("DELETE FROM networks WHERE id=?", (network_id,))
            db.execute("DELETE FROM ip_allocations WHERE network_id=?", (network_id,))

    def network_by_name(self, name: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT doc FROM networks WHERE name=?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def network_by_id(self, network_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT doc FROM networks WHERE id=?", (network_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def network_ids_with_prefix(self, prefix: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM networks WHERE id >= ? AND id < ?",
                                              (prefix, prefix + "\x7f")).fetchall()]

    def network_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id FROM networks")}

    # -- IP allocations -------------------------------------------------------------------------
    def addresses_in(self, network_id: str) -> set[str]:
        """The addresses allocated on a network (call inside :meth:`tx` to allocate one)."""
        return {r[0] for r in self.db.execute("SELECT address FROM ip_allocations WHERE network_id=?",
                                              (network_id,))}

    def add_allocation(self, network_id: str, address: str, container_id: str) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO ip_allocations(network_id, address, container_id) VALUES (?,?,?)",
                       (network_id, address, container_id))

    def delete_allocation(self, network_id: str, address: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM ip_allocations WHERE network_id=? AND address=?", (network_id, address))

    def release_addresses(self, container_id: str, network_id: str | None = None) -> None:
        """A container's allocations (on one network, or on all)."""
        with self.tx() as db:
            if network_id is None:
                db.execute("DELETE FROM ip_allocations WHERE container_id=?", (container_id,))
            else:
                db.execute("DELETE FROM ip_allocations WHERE container_id=? AND network_id=?",
                           (container_id, network_id))

    def allocations(self, network_id: str) -> dict[str, str]:
        """container id → address on this network."""
        return {r[1]: r[0] for r in self.db.execute(
            "SELECT address, container_id FROM ip_allocations WHERE network_id=?", (network_id,))}

    def allocation_rows(self) -> list[tuple[str, str, str]]:
        """(network id, address, container id) of every allocation, oldest first."""
        return [(r[0], r[1], r[2]) for r in self.db.execute(
            "SELECT network_id, address, container_id FROM ip_allocations ORDER BY rowid").fetchall()]

    def orphan_allocations(self) -> list[str]:
        """Ids of the containers that hold addresses but have no row."""
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT container_id FROM ip_allocations WHERE container_id NOT IN (SELECT id FROM containers) "
            "AND container_id NOT LIKE 'vip:%'")]  # a service's virtual IP (services/endpoints.py)

    # -- swarm ----------------------------------------------------------------------------------
    # Rows come back as dicts of their columns, JSON columns decoded; engine/services/swarm.py shapes
    # them as docker's objects.
    def swarm(self) -> dict[str, Any] | None:
        row = self.db.execute("SELECT cluster_id, node_id, version, counter, created, updated, spec, join_tokens, "
                              "unlock_key, node FROM swarm WHERE one=1").fetchone()
        if row is None:
            return None
        return {"cluster_id": row[0], "node_id": row[1], "version": row[2], "counter": row[3], "created": row[4],
                "updated": row[5], "spec": json.loads(row[6]), "join_tokens": json.loads(row[7]),
                "unlock_key": row[8], "node": json.loads(row[9])}

    def insert_swarm(self, cluster_id: str, node_id: str, created: str, spec: dict[str, Any],
                     join_tokens: dict[str, str], unlock_key: str, node: dict[str, Any]) -> bool:
        """The swarm's row; False (nothing written) when this data root is already in a swarm."""
        try:
            with self.tx() as db:
                db.execute("INSERT INTO swarm(one, cluster_id, node_id, version, counter, created, updated, spec, "
                           "join_tokens, unlock_key, node) VALUES (1,?,?,1,1,?,?,?,?,?,?)",
                           (cluster_id, node_id, created, created, json.dumps(spec), json.dumps(join_tokens),
                            unlock_key, json.dumps(node)))
        except sqlite3.IntegrityError:
            return False
        return True

    def next_index(self) -> int:
        """The swarm's next ``Version.Index`` (call inside :meth:`tx` with the change it stamps)."""
        with self.tx() as db:
            db.execute("UPDATE swarm SET counter = counter + 1 WHERE one=1")
            row = db.execute("SELECT counter FROM swarm WHERE one=1").fetchone()
        return int(row[0]) if row else 0

    def update_swarm(self, expected_version: int | None, updated: str, **columns: Any) -> bool:
        """Change the swarm's row (``spec``, ``join_tokens``, ``unlock_key``, ``node``); False when its
        version is not ``expected_version`` (someone changed it first)."""
        allowed = {"spec", "join_tokens", "unlock_key", "node"}
        assert set(columns) <= allowed
        with self.tx() as db:
            row = db.execute("SELECT version FROM swarm WHERE one=1").fetchone()
            if row is None or (expected_version is not None and row[0] != expected_version):
                return False
            index = self.next_index()
            sets = ", ".join(f"{k}=?" for k in columns)
            values = [v if isinstance(v, str) else json.dumps(v) for v in columns.values()]
            db.execute(f"UPDATE swarm SET {sets}{', ' if sets else ''}version=?, updated=? WHERE one=1",
                       (*values, index, updated))
        return True

    def clear_swarm(self) -> None:
        """Every swarm row: the swarm, its services, tasks, secrets and configs (``swarm leave --force``)."""
        with self.tx() as db:
            for table in SWARM_TABLES:
                db.execute(f"DELETE FROM {table}")

    # services
    @staticmethod
    def _service_row(row: Sequence[Any]) -> dict[str, Any]:
        return {"id": row[0], "name": row[1], "version": row[2], "created": row[3], "updated": row[4],
                "spec": json.loads(row[5]), "previous_spec": _loads(row[6]), "endpoint": _loads(row[7]),
                "update_status": _loads(row[8])}

    def insert_service(self, service_id: str, name: str, created: str, spec: dict[str, Any]) -> int | None:
        """A new service's row; its version, or None (nothing written) when another service has the name."""
        try:
            with self.tx() as db:
                index = self.next_index()
                db.execute(f"INSERT INTO services({SERVICE_COLUMNS}) VALUES (?,?,?,?,?,?,NULL,NULL,NULL)",
                           (service_id, name, index, created, created, json.dumps(spec)))
        except sqlite3.IntegrityError:
            return None
        return index

    def update_service(self, service_id: str, updated: str, *, expected_version: int | None = None,
                       **columns: Any) -> int | None:
        """Change a service's ``spec``/``previous_spec`` (a new version) or its ``endpoint``/
        ``update_status`` (kept version); None when the service is gone or not at ``expected_version``."""
        allowed = {"spec", "previous_spec", "endpoint", "update_status", "name"}
        assert set(columns) <= allowed
        with self.tx() as db:
            row = db.execute("SELECT version FROM services WHERE id=?", (service_id,)).fetchone()
            if row is None or (expected_version is not None and row[0] != expected_version):
                return None
            version = int(row[0])
            if "spec" in columns:
                version = self.next_index()
            sets = [f"{k}=?" for k in columns]
            values: list[Any] = [v if isinstance(v, str) or v is None else json.dumps(v) for k, v in columns.items()]
            db.execute(f"UPDATE services SET {', '.join(sets + ['version=?', 'updated=?'])} WHERE id=?",
                       (*values, version, updated, service_id))
        return version

    def service(self, service_id: str) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {SERVICE_COLUMNS} FROM services WHERE id=?", (service_id,)).fetchone()
        return self._service_row(row) if row else None

    def service_by_name(self, name: str) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {SERVICE_COLUMNS} FROM services WHERE name=?", (name,)).fetchone()
        return self._service_row(row) if row else None

    def service_ids_with_prefix(self, prefix: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM services WHERE id >= ? AND id < ?",
                                              (prefix, prefix + "\x7f")).fetchall()]

    def services(self) -> list[dict[str, Any]]:
        return [self._service_row(r) for r in self.db.execute(
            f"SELECT {SERVICE_COLUMNS} FROM services ORDER BY created, id").fetchall()]

    def delete_service(self, service_id: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM services WHERE id=?", (service_id,))

    # tasks
    @staticmethod
    def _task_row(row: Sequence[Any]) -> dict[str, Any]:
        return {"id": row[0], "service_id": row[1], "slot": row[2], "node_id": row[3], "version": row[4],
                "created": row[5], "updated": row[6], "spec": json.loads(row[7]), "status": json.loads(row[8]),
                "desired_state": row[9], "container_id": row[10], "doc": json.loads(row[11])}

    def insert_task(self, task: dict[str, Any]) -> int:
        """A new task's row (the keys of a row as :meth:`task` returns it, but ``version``); its version."""
        with self.tx() as db:
            index = self.next_index()
            db.execute(f"INSERT INTO tasks({TASK_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                       (task["id"], task["service_id"], task["slot"], task["node_id"], index, task["created"],
                        task["updated"], json.dumps(task["spec"]), json.dumps(task["status"]),
                        task["desired_state"], task.get("container_id") or "", json.dumps(task.get("doc") or {})))
        return index

    def update_task(self, task_id: str, updated: str, **columns: Any) -> int | None:
        """Change a task's ``status``, ``desired_state``, ``container_id`` or ``doc``; its new version, or
        None when the task is gone."""
        allowed = {"status", "desired_state", "container_id", "doc"}
        assert set(columns) <= allowed
        with self.tx() as db:
            if db.execute("SELECT 1 FROM tasks WHERE id=?", (task_id,)).fetchone() is None:
                return None
            index = self.next_index()
            sets = [f"{k}=?" for k in columns]
            values = [v if isinstance(v, str) else json.dumps(v) for v in columns.values()]
            db.execute(f"UPDATE tasks SET {', '.join(sets + ['version=?', 'updated=?'])} WHERE id=?",
                       (*values, index, updated, task_id))
        return index

    def task(self, task_id: str) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id=?", (task_id,)).fetchone()
        return self._task_row(row) if row else None

    def task_ids_with_prefix(self, prefix: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM tasks WHERE id >= ? AND id < ?",
                                              (prefix, prefix + "\x7f")).fetchall()]

    def tasks(self, service_id: str | None = None) -> list[dict[str, Any]]:
        """Tasks (of one service, or all), by service, slot and age (oldest first)."""
        where, args = ("WHERE service_id=?", (service_id,)) if service_id is not None else ("", ())
        return [self._task_row(r) for r in self.db.execute(
            f"SELECT {TASK_COLUMNS} FROM tasks {where} ORDER BY service_id, slot, created, rowid", args).fetchall()]

    def delete_task(self, task_id: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM tasks WHERE id=?", (task_id,))

    # secrets and configs: the same shape, the data itself on disk (engine/services/swarm.py)
    @staticmethod
    def _blob_table(kind: str) -> str:
        assert kind in ("secrets", "configs")
        return kind

    def insert_blob_object(self, kind: str, object_id: str, name: str, created: str,
                           spec: dict[str, Any]) -> int | None:
        """A new secret or config; its version, or None when another one has the name."""
        table = self._blob_table(kind)
        try:
            with self.tx() as db:
                index = self.next_index()
                db.execute(f"INSERT INTO {table}(id, name, version, created, updated, spec) VALUES (?,?,?,?,?,?)",
                           (object_id, name, index, created, created, json.dumps(spec)))
        except sqlite3.IntegrityError:
            return None
        return index

    def update_blob_object(self, kind: str, object_id: str, expected_version: int, updated: str,
                           spec: dict[str, Any]) -> int | None:
        table = self._blob_table(kind)
        with self.tx() as db:
            row = db.execute(f"SELECT version FROM {table} WHERE id=?", (object_id,)).fetchone()
            if row is None or row[0] != expected_version:
                return None
            index = self.next_index()
            db.execute(f"UPDATE {table} SET spec=?, version=?, updated=? WHERE id=?",
                       (json.dumps(spec), index, updated, object_id))
        return index

    def blob_objects(self, kind: str) -> list[dict[str, Any]]:
        table = self._blob_table(kind)
        return [{"id": r[0], "name": r[1], "version": r[2], "created": r[3], "updated": r[4],
                 "spec": json.loads(r[5])} for r in self.db.execute(
            f"SELECT id, name, version, created, updated, spec FROM {table} ORDER BY created, id").fetchall()]

    def delete_blob_object(self, kind: str, object_id: str) -> None:
        table = self._blob_table(kind)
        with self.tx() as db:
            db.execute(f"DELETE FROM {table} WHERE id=?", (object_id,))
