"""SQLite store (WAL) for images, tags, containers, volumes, build cache, events, networks and IP
allocations. All of the engine's SQL is here.

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


class State:
    """A connection to one data root's database."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA busy_timeout=30000")
        mode = self.db.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name='events'").fetchone():
            self.db.executescript(SCHEMA)
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name='ip_allocations'").fetchone():
            self.db.executescript(NETWORK_SCHEMA)

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
