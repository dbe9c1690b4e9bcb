"""One registry endpoint: transport, ping and authentication.

Transport: HTTPS with the system CAs plus the registry's certificate folder
(``/etc/docker/certs.d/<host:port>/``: ``*.crt`` CAs, ``client.cert`` + ``client.key``;
``PORTSIDE_CERTS_D`` moves the parent folder). Plain HTTP only for loopback registries and those
listed as insecure (``PORTSIDE_INSECURE_REGISTRIES``, comma separated, or ``insecure-registries`` in
``/etc/portside/daemon.json`` / ``$PORTSIDE_DAEMON_CONFIG``); for those HTTPS is tried first, without
verification unless the certificate folder holds a CA, as docker does.

Authentication follows the ``WWW-Authenticate`` challenge of ``GET /v2/``: none, HTTP basic, or bearer
tokens fetched from the realm per scope (``repository:<name>:pull,push``) and cached until they expire.

Bounded: a body read whole into memory (manifests, indexes, configs, tokens, error answers) stops at a
cap (``MAX_BODY``, 4 MiB, unless the caller names another) with a one-line error, and every body read
must keep a minimum pace: a transfer that brings fewer than ``PORTSIDE_REGISTRY_LOW_SPEED_LIMIT`` bytes a
second (default 1024) over ``PORTSIDE_REGISTRY_LOW_SPEED_TIME`` seconds (default 30), or no byte at all for
that long, fails as a retryable "transfer stalled". ``PORTSIDE_REGISTRY_TIMEOUT`` (default 60 s) bounds
connecting and waiting for the answer's headers.
"""

from __future__ import annotations

import base64
import errno
import glob
import http.client
import ipaddress
import json
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterable
from typing import Any

from ..errors import RegistryError, RegistryNotFound, RegistryUnauthorized, RegistryUnavailable
from .credentials import Credentials

USER_AGENT = "portside/0.1 (docker-compatible)"
MAX_BODY = 4 << 20
_ERROR_BODY = 64 << 10  # what is kept of an error answer's body (the rest is dropped with the connection)
_READ = 1 << 20


def _env_float(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


_TIMEOUT = _env_float("PORTSIDE_REGISTRY_TIMEOUT", 60)


def low_speed() -> tuple[float, float]:
    """(bytes a second a body must average, over how many seconds)."""
    return (_env_float("PORTSIDE_REGISTRY_LOW_SPEED_LIMIT", 1024),
            _env_float("PORTSIDE_REGISTRY_LOW_SPEED_TIME", 30))


def mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def api_host(registry_host: str) -> str:
    """Where a registry's API lives: Docker Hub's is ``registry-1.docker.io``."""
    return "registry-1.docker.io" if registry_host in ("docker.io", "index.docker.io") else registry_host


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") and host.count(":") == 1 else host
    name = name.strip("[]")
    if name.startswith("[") and "]:" in host:
        name = host[1:host.index("]")]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def insecure_registries() -> list[str]:
    found = [h.strip() for h in os.environ.get("PORTSIDE_INSECURE_REGISTRIES", "").split(",") if h.strip()]
    path = os.environ.get("PORTSIDE_DAEMON_CONFIG", "/etc/portside/daemon.json")
    try:
        with open(path) as f:
            found += [str(h) for h in (json.load(f).get("insecure-registries") or [])]
    except (OSError, ValueError, AttributeError):
        pass
    return found


def is_insecure(host: str) -> bool:
    if is_loopback(host):
        return True
    for entry in insecure_registries():
        if "/" in entry:  # a CIDR
            try:
                net = ipaddress.ip_network(entry, strict=False)
                return ipaddress.ip_address(host.rsplit(":", 1)[0].strip("[]")) in net
            except ValueError:
                continue
        if entry == host or entry == host.rsplit(":", 1)[0]:
            return True
    return False


def certs_dir(host: str) -> str:
    return os.path.join(os.environ.get("PORTSIDE_CERTS_D", "/etc/docker/certs.d"), host)


def ssl_context(host: str, verify: bool) -> ssl.SSLContext:
    """System CAs plus ``certs.d/<host>/*.crt``; a client certificate when the folder has one."""
    folder = certs_dir(host)
    cas = sorted(glob.glob(os.path.join(folder, "*.crt")))
    if verify or cas:
        ctx = ssl.create_default_context()
        for ca in cas:
            ctx.load_verify_locations(cafile=ca)
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    for cert in sorted(glob.glob(os.path.join(folder, "*.cert"))):
        key = cert[:-5] + ".key"
        if not os.path.exists(key):
            raise RegistryError(f"missing key {os.path.basename(key)} for client certificate "
                                f"{os.path.basename(cert)} in {folder}")
        ctx.load_cert_chain(cert, key)
    return ctx


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` → ("bearer", {"realm": …, "service": …})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}
    for k, v in re.findall(r'(\w+)=([^",\s]+)', rest):
        params.setdefault(k.lower(), v)
    return scheme.lower(), params


def error_text(body: bytes, status: int) -> str:
    """Docker's wording for a registry's error body: ``manifest unknown: manifest unknown``."""
    try:
        doc = json.loads(body)
        errors = doc.get("errors") or ([doc] if "code" in doc or "message" in doc else [])
        parts = []
        for e in errors:
            code = str(e.get("code", "")).lower().replace("_", " ")
            msg = str(e.get("message", "") or e.get("detail", ""))
            parts.append(f"{code}: {msg}" if code and msg else code or msg)
        if parts:
            return "; ".join(parts)
        if doc.get("details"):
            return str(doc["details"])
    except (ValueError, AttributeError, TypeError):
        pass
    text = body.decode(errors="replace").strip().splitlines()
    reason = http.client.responses.get(status, "")
    if status == 401:
        return "unauthorized: authentication required"
    return f"unexpected status {status} {reason}".rstrip() + (f": {text[0][:200]}" if text else "")


def error_code(body: bytes) -> str:
    try:
        return str((json.loads(body).get("errors") or [{}])[0].get("code", ""))
    except (ValueError, AttributeError, TypeError, IndexError):
        return ""


class Response:
    """A response whose body is read on demand; the connection goes back to the pool once drained."""

    def __init__(self, client: RegistryClient, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse,
                 url: str, pooled: bool = True) -> None:
        self._client = client
        self._conn: http.client.HTTPConnection | None = conn
        self.raw = resp
        self.status = resp.status
        self.headers = resp.headers
        self.url = url
        self._pooled = pooled
        self._pace = low_speed()
        self._window: tuple[float, int] | None = None
        if conn.sock is not None:  # no byte for the whole window is a stall too
            conn.sock.settimeout(self._pace[1])

    def read(self, n: int = -1, *, limit: int = MAX_BODY, what: str = "") -> bytes:
        """``n`` bytes at most (whatever has arrived, at least one), or with ``n < 0`` the whole body.

        A whole body longer than ``limit`` raises RegistryError "``what`` is too large"; a body that
        arrives slower than the minimum pace raises RegistryUnavailable (retryable).
        """
        if n >= 0:
            data = self._read1(n)
            if not data:
                self.close()
            return data
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            self._too_large(limit, what)
        parts: list[bytes] = []
        got = 0
        while True:
            data = self._read1(_READ)
            if not data:
                break
            got += len(data)
            if got > limit:
                self._too_large(limit, what)
            parts.append(data)
        self.close()
        return b"".join(parts)

    def read_head(self, limit: int = _ERROR_BODY) -> bytes:
        """Up to ``limit`` bytes of the body (an error's text); the connection is dropped if more follow."""
        data = self.read(limit) if limit else b""
        while data and len(data) < limit:
            more = self.read(limit - len(data))
            if not more:
                break
            data += more
        if self._conn is not None:
            self.close(broken=True)
        return data

    def _too_large(self, limit: int, what: str) -> None:
        self.close(broken=True)
        raise RegistryError(f"{what or self.url} is too large (more than {mib(limit)})")

    def _read1(self, n: int) -> bytes:
        if self._window is None:
            self._window = (time.monotonic(), 0)
        try:
            data = self.raw.read1(n) if n else b""
        except (OSError, http.client.HTTPException) as exc:
            self.close(broken=True)
            if isinstance(exc, (socket.timeout, TimeoutError)):
                self._stalled()
            raise RegistryUnavailable(f"reading {self.url}: {describe_oserror(exc)}", retryable=True) from exc
        start, got = self._window
        got += len(data)
        now = time.monotonic()
        if now - start >= self._pace[1]:
            if got < self._pace[0] * (now - start) and data:
                self.close(broken=True)
                self._stalled()
            start, got = now, 0
        self._window = (start, got)
        return data

    def _stalled(self) -> None:
        rate, span = self._pace
        raise RegistryUnavailable(f"reading {self.url}: transfer stalled (less than {rate:g} bytes/s for "
                                  f"{span:g} s)", retryable=True)

    def readinto(self, buf: memoryview) -> int:
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def close(self, broken: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if broken or not self.raw.isclosed() or self.raw.will_close or not self._pooled:
            conn.close()
        else:
            self._client._release(conn)

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(broken=exc[0] is not None)


def describe_oserror(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connect: connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "i/o timeout"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"tls: failed to verify certificate: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"tls: {exc.reason or exc}"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(exc, (http.client.RemoteDisconnected, http.client.IncompleteRead)):
        return "unexpected EOF"
    if isinstance(exc, socket.gaierror):
        return "no such host"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc) or type(exc).__name__


NO_REGISTRY_WAY = "to make a busybox image without a registry, run: portside image busybox"


def unreachable_text(host: str, exc: BaseException | None) -> str:
    """One line for a pull whose registry never answered, with the way to do without one."""
    if isinstance(exc, socket.gaierror):
        why = "no such host; no network?"
    elif isinstance(exc, (socket.timeout, TimeoutError)) or \
            getattr(exc, "errno", None) in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        why = "no network?"
    elif isinstance(exc, ConnectionRefusedError):
        why = "connection refused"
    else:
        why = describe_oserror(exc or OSError("no answer"))
    return f"cannot reach {host} ({why}): {NO_REGISTRY_WAY}"


class RegistryClient:
    """A registry endpoint, shareable between threads (connections are pooled, tokens locked)."""

    def __init__(self, registry_host: str, creds: Credentials | None = None) -> None:
        self.registry = registry_host
        self.host = api_host(registry_host)
        self.creds = creds
        self.insecure = is_insecure(self.host)
        self.scheme = ""
        self._challenge: tuple[str, dict[str, str]] | None = None
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._pool: list[http.client.HTTPConnection] = []
        self._ctx: dict[bool, ssl.SSLContext] = {}

    # -- connections --------------------------------------------------------------------------
    def _context(self, host: str) -> ssl.SSLContext:
        verify = not is_insecure(host)
        with self._lock:
            if verify not in self._ctx:
                self._ctx[verify] = ssl_context(host, verify)
            return self._ctx[verify]

    def _new_conn(self, scheme: str, host: str) -> http.client.HTTPConnection:
        if scheme == "https":
            return http.client.HTTPSConnection(host, timeout=_TIMEOUT, context=self._context(host))
        if not is_insecure(host):
            raise RegistryError(f"refusing plain HTTP to {host}: only loopback registries and insecure "
                                f"registries may use http")
        return http.client.HTTPConnection(host, timeout=_TIMEOUT)

    def _acquire(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._pool:
                return self._pool.pop(), True
        return self._new_conn(self.scheme, self.host), False

    def _release(self, conn: http.client.HTTPConnection) -> None:
        if conn.sock is not None:
            conn.sock.settimeout(_TIMEOUT)
        with self._lock:
            if len(self._pool) < 16:
                self._pool.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, []
        for c in pool:
            c.close()

    def url(self, path: str) -> str:
        return f"{self.scheme or 'https'}://{self.host}{path}"

    # -- ping -----------------------------------------------------------------------------------
    def ping(self) -> None:
        """``GET /v2/``: pick the scheme and remember the auth challenge."""
        if self.scheme:
            return
        schemes = ["https", "http"] if self.insecure else ["https"]
        last: BaseException | None = None
        for scheme in schemes:
            conn = self._new_conn(scheme, self.host)
            try:
                conn.request("GET", "/v2/", headers={"User-Agent": USER_AGENT})
                resp = conn.getresponse()
                body = resp.read(_ERROR_BODY)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                last = exc
                continue
            if resp.status not in (200, 401) and not (resp.status == 400 and scheme == "https" and len(schemes) > 1):
                conn.close()
                raise RegistryUnavailable(f"Get \"{scheme}://{self.host}/v2/\": {error_text(body, resp.status)}")
            if resp.status == 400:  # an HTTP server answering our TLS hello with text
                conn.close()
                continue
            self.scheme = scheme
            if resp.status == 401:
                self._challenge = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
            if resp.isclosed() and not resp.will_close:
                self._release(conn)
            else:  # a body longer than we read, or the server closes: not reusable
                conn.close()
            return
        where = f"{schemes[-1]}://{self.host}/v2/"
        # the first contact failed: the registry is down or unknown, and docker says so at once
        # (once a registry has answered, later failures are retried: see distribution.retrying)
        raise RegistryUnavailable(f"Get \"{where}\": dial tcp {self.host}: {describe_oserror(last or OSError())}",
                                  retryable=False, unreachable=unreachable_text(self.host, last))

    # -- auth -------------------------------------------------------------------------------------
    def _basic(self, creds: Credentials | None) -> str:
        if not creds or not creds.username:
            return ""
        return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()

    def _fetch_token(self, scopes: tuple[str, ...], creds: Credentials | None, *, login: bool = False) -> tuple[str, float]:
        assert self._challenge is not None
        params = self._challenge[1]
        realm = params.get("realm", "")
        if not realm:
            raise RegistryError(f"{self.host}: bearer challenge without a realm")
        u = urllib.parse.urlsplit(realm)
        if u.scheme not in ("http", "https") or not u.netloc:
            raise RegistryError(f"{self.host}: bad token realm {realm!r}")
        query = [("service", params["service"])] if params.get("service") else []
        query += [("scope", s) for s in scopes]
        if creds and creds.username:
            query += [("account", creds.username)]
        if login:
            query += [("client_id", "portside"), ("offline_token", "true")]
        path = (u.path or "/") + "?" + urllib.parse.urlencode(query) + (("&" + u.query) if u.query else "")
        headers = {"User-Agent": USER_AGENT}
        basic = self._basic(creds)
        if basic:
            headers["Authorization"] = basic
        conn = self._new_conn(u.scheme, u.netloc)
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read(MAX_BODY + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise RegistryUnavailable(f"Get \"{realm}\": {describe_oserror(exc)}", retryable=True) from exc
        finally:
            conn.close()
        if resp.status in (401, 403):
            if basic:
                raise RegistryUnauthorized("unauthorized: incorrect username or password")
            raise RegistryUnauthorized(error_text(body, resp.status) if body.strip() else
                                       "unauthorized: authentication required")
        if resp.status != 200:
            raise RegistryUnavailable(f"fetching token from {realm}: {error_text(body[:_ERROR_BODY], resp.status)}")
        if len(body) > MAX_BODY:
            raise RegistryUnavailable(f"fetching token from {realm}: the answer is too large (more than "
                                      f"{mib(MAX_BODY)})")
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
            expires = max(int(doc.get("expires_in") or 60), 60)
        except (ValueError, AttributeError, TypeError):
            raise RegistryUnavailable(f"fetching token from {realm}: the answer is not JSON") from None
        if not token:
            raise RegistryUnavailable(f"fetching token from {realm}: no token in the answer")
        return str(token), time.monotonic() + expires - 5

    def _auth_header(self, scopes: tuple[str, ...]) -> str:
        if self._challenge is None:
            return ""
        scheme = self._challenge[0]
        if scheme == "basic":
            return self._basic(self.creds)
        if scheme != "bearer":
            return ""
        key = tuple(sorted(scopes))
        with self._lock:
            cached = self._tokens.get(key)
        if cached and cached[1] > time.monotonic():
            return "Bearer " + cached[0]
        token = self._fetch_token(key, self.creds)
        with self._lock:
            self._tokens[key] = token
        return "Bearer " + token[0]

    def _forget_token(self, scopes: tuple[str, ...]) -> None:
        with self._lock:
            self._tokens.pop(tuple(sorted(scopes)), None)

    def check_login(self, creds: Credentials) -> None:
        """Verify credentials against the registry (``docker login``); raises RegistryUnauthorized."""
        self.ping()
        if self._challenge is None:
            return  # an open registry accepts anyone, as docker's login does
        scheme = self._challenge[0]
        if scheme == "bearer":
            self._fetch_token((), creds, login=True)
            return
        if scheme == "basic":
            conn = self._new_conn(self.scheme, self.host)
            try:
                conn.request("GET", "/v2/", headers={"User-Agent": USER_AGENT, "Authorization": self._basic(creds)})
                resp = conn.getresponse()
                resp.read(_ERROR_BODY)
            except (OSError, http.client.HTTPException) as exc:
                raise RegistryUnavailable(f"Get \"{self.url('/v2/')}\": {describe_oserror(exc)}") from exc
            finally:
                conn.close()
            if resp.status == 401:
                raise RegistryUnauthorized("unauthorized: incorrect username or password")
            if resp.status != 200:
                raise RegistryUnavailable(f"login attempt to {self.url('/v2/')} failed with status: "
                                          f"{resp.status} {resp.reason}")
            return
        raise RegistryError(f"{self.host}: unsupported authentication scheme {scheme!r}")

    # -- requests ---------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, scopes: tuple[str, ...] = (), headers: dict[str, str] | None = None,
                body: bytes | Iterable[bytes] | None = None, ok: tuple[int, ...] = (200,),
                redirects: int = 5) -> Response:
        """Send a request with auth; returns the response when its status is in ``ok``.

        Errors: RegistryUnavailable (connection trouble: ``retryable``), RegistryUnauthorized (401/403),
        RegistryNotFound (404), RegistryError (anything else). A 401 with a replayable body renews the
        token once.
        """
        self.ping()
        replayable = body is None or isinstance(body, bytes)
        for attempt in range(2):
            hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
            auth = self._auth_header(scopes)
            if auth:
                hdrs["Authorization"] = auth
            if isinstance(body, bytes) or body is None:
                hdrs.setdefault("Content-Length", str(len(body or b""))) if method in ("PUT", "POST", "PATCH") else None
            conn, reused = self._acquire()
            try:
                conn.request(method, path, body=body, headers=hdrs,
                             encode_chunked=not replayable and "Content-Length" not in hdrs)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if reused and replayable and attempt == 0:
                    continue  # an idle pooled connection the server had closed
                raise RegistryUnavailable(f"{method.capitalize()} \"{self.url(path)}\": {describe_oserror(exc)}",
                                          retryable=True) from exc
            r = Response(self, conn, resp, self.url(path))
            if resp.status in ok:
                return r
            if resp.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD") and redirects > 0:
                location = resp.headers.get("Location", "")
                r.read_head()
                return self._follow(method, urllib.parse.urljoin(self.url(path), location), headers or {}, ok,
                                    redirects - 1)
            data = b"" if method == "HEAD" else r.read_head()
            r.close()
            if resp.status == 401 and attempt == 0 and replayable:
                challenge = resp.headers.get("WWW-Authenticate", "")
                if challenge:
                    self._challenge = parse_challenge(challenge)
                self._forget_token(scopes)
                continue
            self._raise(method, path, resp.status, data)
        raise AssertionError("unreachable")

    def _follow(self, method: str, url: str, headers: dict[str, str], ok: tuple[int, ...], redirects: int) -> Response:
        u = urllib.parse.urlsplit(url)
        if u.netloc == self.host and u.scheme == self.scheme:
            return self.request(method, u.path + ("?" + u.query if u.query else ""), headers=headers, ok=ok,
                                redirects=redirects)
        conn = self._new_conn(u.scheme, u.netloc)
        try:
            conn.request(method, u.path + ("?" + u.query if u.query else ""),
                         headers={"User-Agent": USER_AGENT, **headers})
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise RegistryUnavailable(f"{method.capitalize()} \"{url}\": {describe_oserror(exc)}", retryable=True) from exc
        r = Response(self, conn, resp, url, pooled=False)
        if resp.status in ok:
            return r
        data = r.read_head() if method != "HEAD" else b""
        r.close()
        self._raise(method, url, resp.status, data)
        raise AssertionError("unreachable")

    def _raise(self, method: str, path: str, status: int, body: bytes) -> None:
        text = error_text(body, status) if body else (
            "unauthorized: authentication required" if status == 401 else
            "denied: requested access to the resource is denied" if status == 403 else
            "not found" if status == 404 else f"unexpected status {status} {http.client.responses.get(status, '')}")
        code = error_code(body)
        if status in (401, 403):
            raise RegistryUnauthorized(text, code=code or ("UNAUTHORIZED" if status == 401 else "DENIED"))
        if status == 404:
            raise RegistryNotFound(text, code=code)
        if status in (429, 500, 502, 503, 504):
            raise RegistryUnavailable(f"{method.capitalize()} \"{self.url(path) if path.startswith('/') else path}\": "
                                      f"{text}", retryable=True, code=code)
        raise RegistryError(text, code=code, http_status=status)

    def get_json(self, path: str, scopes: tuple[str, ...], accept: str = "") -> tuple[Any, bytes, Response]:
        headers = {"Accept": accept} if accept else {}
        r = self.request("GET", path, scopes=scopes, headers=headers)
        data = r.read(what=self.url(path))
        try:
            return json.loads(data), data, r
        except ValueError:
            raise RegistryUnavailable(f"{self.url(path)}: the registry answered garbage (not JSON)") from None
