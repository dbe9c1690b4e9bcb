"""Registry credentials kept as docker keeps them.

``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``)::

    {"auths": {"127.0.0.1:5000": {"auth": "<base64 user:password>"}},
     "credsStore": "pass", "credHelpers": {"gcr.io": "gcloud"}}

A server named in ``credHelpers`` uses ``docker-credential-<helper>``; otherwise ``credsStore`` (when set)
does, and ``auths`` keeps only an empty entry for it; otherwise the secret sits base64-encoded in
``auths``. The helper protocol: ``store`` reads ``{"ServerURL", "Username", "Secret"}`` on stdin, ``get``
reads the server and prints that object, ``erase`` reads the server.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgument, RegistryError

def decode_header(header: str) -> dict[str, Any] | None:
    """The Engine API's ``X-Registry-Auth``: base64url JSON (``username``, ``password``,
    ``serveraddress``, ``identitytoken``…); None when empty."""
    if not header:
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("invalid X-Registry-Auth header: not base64-encoded JSON") from None
    return doc if isinstance(doc, dict) and doc else None


DOCKER_HUB = "docker.io"
INDEX_SERVER = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""


def config_dir() -> str:
    return os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def config_path() -> str:
    return os.path.join(config_dir(), "config.json")


def hostname(server: str) -> str:
    """``https://index.docker.io/v1/`` → ``index.docker.io``; ``127.0.0.1:5000`` stays."""
    s = server
    for prefix in ("http://", "https://"):
        if s.startswith(prefix):
            s = s[len(prefix):]
    return s.split("/", 1)[0]


def server_key(registry_host: str) -> str:
    """The ``auths`` key for a registry: docker's index URL for Docker Hub, else the host."""
    if registry_host in (DOCKER_HUB, "index.docker.io", "registry-1.docker.io"):
        return INDEX_SERVER
    return registry_host


def _load() -> dict[str, Any]:
    try:
        with open(config_path()) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RegistryError(f"loading config file {config_path()}: {exc}") from None
    return data if isinstance(data, dict) else {}


def _save(data: dict[str, Any]) -> None:
    d = config_dir()
    os.makedirs(d, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent="\t")
            f.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, config_path())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _helper_for(data: dict[str, Any], key: str) -> str:
    helpers = data.get("credHelpers") or {}
    host = hostname(key)
    for k, v in helpers.items():
        if hostname(k) == host:
            return str(v)
    return str(data.get("credsStore") or "")


def _run_helper(helper: str, action: str, payload: str) -> str:
    prog = f"docker-credential-{helper}"
    try:
        proc = subprocess.run([prog, action], input=payload, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise RegistryError(f"error getting credentials - err: exec: \"{prog}\": executable file not found "
                            f"in $PATH, out: ``") from None
    except subprocess.TimeoutExpired:
        raise RegistryError(f"{prog} {action}: timed out") from None
    if proc.returncode != 0:
        out = (proc.stdout.strip() or proc.stderr.strip())
        if action == "get" and "credentials not found" in out:
            return ""
        if action == "erase" and "not found" in out:
            return ""
        raise RegistryError(f"{prog} {action}: {out or f'exit status {proc.returncode}'}")
    return proc.stdout


def _matching_key(auths: dict[str, Any], key: str) -> str | None:
    if key in auths:
        return key
    host = hostname(key)
    for k in auths:
        if hostname(k) == host:
            return k
    return None


def get(registry_host: str) -> Credentials | None:
    """Stored credentials for a registry, or None."""
    key = server_key(registry_host)
    data = _load()
    helper = _helper_for(data, key)
    if helper:
        out = _run_helper(helper, "get", key)
        if out.strip():
            try:
                doc = json.loads(out)
            except ValueError:
                raise RegistryError(f"docker-credential-{helper} get: invalid output") from None
            user, secret = doc.get("Username", ""), doc.get("Secret", "")
            if user == "<token>":
                return Credentials(identity_token=secret)
            return Credentials(user, secret)
    auths = data.get("auths") or {}
    k = _matching_key(auths, key)
    if k is None:
        return None
    entry = auths[k] or {}
    token = entry.get("identitytoken", "")
    auth = entry.get("auth", "")
    if auth:
        try:
            user, _, password = base64.b64decode(auth).decode().partition(":")
        except ValueError:
            raise RegistryError(f"invalid auth configuration file for {k}") from None
        return Credentials(user, password, token)
    if token:
        return Credentials(identity_token=token)
    if entry.get("username"):
        return Credentials(entry["username"], entry.get("password", ""))
    return None


def helper_name(registry_host: str) -> str:
    """The credential helper that keeps this registry's secret, or ""."""
    return _helper_for(_load(), server_key(registry_host))


def store(registry_host: str, creds: Credentials) -> str:
    """Save credentials (through a helper when configured); returns the file written."""
    key = server_key(registry_host)
    data = _load()
    helper = _helper_for(data, key)
    auths = data.setdefault("auths", {})
    old = _matching_key(auths, key)
    if old is not None and old != key:
        del auths[old]
    if helper:
        user, secret = (("<token>", creds.identity_token) if creds.identity_token and not creds.password
                        else (creds.username, creds.password))
        _run_helper(helper, "store", json.dumps({"ServerURL": key, "Username": user, "Secret": secret}))
        auths[key] = {}
    else:
        entry: dict[str, str] = {}
        if creds.username or creds.password:
            entry["auth"] = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
        if creds.identity_token:
            entry["identitytoken"] = creds.identity_token
        auths[key] = entry
    _save(data)
    return config_path()


def erase(registry_host: str) -> bool:
    """Forget a registry's credentials; False when there were none."""
    key = server_key(registry_host)
    data = _load()
    helper = _helper_for(data, key)
    auths = data.get("auths") or {}
    k = _matching_key(auths, key)
    found = k is not None
    if helper:
        _run_helper(helper, "erase", key)
        found = True if k is not None else found
    if k is not None:
        del auths[k]
        _save(data)
    return found
