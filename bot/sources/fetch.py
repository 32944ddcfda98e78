"""Fetching URLs from feeds and lists without becoming a way into the operator's network.

Rules: http/https only; every host is resolved and refused when any address is loopback,
private, link-local, multicast, reserved or otherwise not public (unless the operator sets
fetch.allow_private); the same check runs again on the socket actually connected, so a DNS
answer that changes between the check and the connection (rebinding) is caught too;
redirects are followed by hand, at most N, each hop checked like the first; connect/read
timeouts plus a deadline for the whole download; a size cap enforced while streaming; an image
must decode (dreamer.load_image). Proxies from the environment are ignored on purpose: through a
proxy the connected address says nothing about the real destination.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from bot.sources.addresses import refusal, refusal_phrase  # noqa: F401 (part of this module's API)

if TYPE_CHECKING:
    from PIL import Image

    from bot.config import FetchSection

REDIRECTS = (301, 302, 303, 307, 308)
# Servers refuse a request line past about 8 KB (414), and a photo's address, signed CDN links
# included, is a fraction of that: a longer one is refused unfetched, its message kept short.
MAX_URL_CHARS = 8192


class FetchError(Exception):
    """A URL could not be fetched or was refused; the message says which and why. `permanent`:
    asking again cannot help (a refused address or scheme, a 4xx answer other than 408/425/429),
    so a request's image is refused rather than retried for hours."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class RefusedAddress(FetchError):
    def __init__(self, message: str):
        super().__init__(message, permanent=True)


# getaddrinfo's "the name does not exist" (EAI_AGAIN, a resolver that did not answer, is retried)
_NO_SUCH_NAME = {getattr(socket, n) for n in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, n)}
# 4xx answers that say "later", not "never"
_RETRY_STATUSES = (408, 425, 429)


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 20_000_000
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 120.0
    max_redirects: int = 5
    allow_private: bool = False
    user_agent: str = "LucidDreamBot/0.1"

    @classmethod
    def from_config(cls, section: "FetchSection") -> "FetchPolicy":
        return cls(**section.model_dump())


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    data: bytes
    content_type: str | None
    etag: str | None = None  # the validators a conditional GET sends back next time
    last_modified: str | None = None
    not_modified: bool = False  # 304 to a conditional GET: `data` is empty, what was had is current


def check_url(url: str, policy: FetchPolicy) -> None:
    """Refuse a URL before any connection: length, scheme, host, and every address it resolves to."""
    if len(url) > MAX_URL_CHARS:
        raise RefusedAddress(f"{url[:80]}…: refused: a URL of {len(url):,} characters (a photo's address "
                             f"is shorter than {MAX_URL_CHARS:,})")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise RefusedAddress(f"{url}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise RefusedAddress(f"{url}: only http:// and https:// URLs are fetched, not {parts.scheme or 'a bare path'}")
    host = parts.hostname
    if not host:
        raise RefusedAddress(f"{url}: the URL has no host")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in _NO_SUCH_NAME:
            # Refused like a private address, and as fast: were a name that does not exist retried
            # while one inside our network is refused at once, a stranger's media URLs could map
            # which internal host names exist.
            raise RefusedAddress(f"{url}: cannot resolve {host}: no such host ({exc.strerror or exc})") from None
        raise FetchError(f"{url}: cannot resolve {host} ({exc.strerror or exc})") from None
    except UnicodeError:
        # A label over 63 characters, an empty one ("a..b") or a character IDNA forbids: the
        # resolver's idna codec raises this, no socket error, and no DNS name can be so.
        raise RefusedAddress(f"{url}: {host} is not a valid host name") from None
    if policy.allow_private:
        return
    for info in infos:
        addr = info[4][0]
        why = refusal_phrase(addr)
        if why:
            raise RefusedAddress(
                f"{url}: refused: {host} resolves to {addr}, {why} "
                "(set fetch.allow_private = true only if the bot should reach your own network)"
            )


def fetch(url: str, policy: FetchPolicy, *, session: requests.Session | None = None,
          validators: Mapping[str, str] | None = None) -> Fetched:
    """GET a URL within the policy. Raises FetchError with a one-line reason. `validators`
    (If-None-Match, If-Modified-Since) make it a conditional GET: a 304 answer is then a
    Fetched that is `not_modified`.

    `policy.total_timeout` bounds the whole fetch (every hop's connect, headers and body): a
    server that trickles bytes just fast enough to dodge the read timeout is cut off by a timer
    that shuts the socket down (see _Deadline)."""
    own = session is None
    session = session or make_session(policy)
    deadline = _Deadline(policy.total_timeout)
    _active.deadline = deadline
    current = url
    try:
        for hop in range(policy.max_redirects + 1):
            check_url(current, policy)
            resp = _get(session, current, policy, deadline, validators)
            try:
                if resp.status_code == 304 and validators:
                    return Fetched(url=current, data=b"", content_type=None, not_modified=True)
                if resp.status_code in REDIRECTS:
                    location = resp.headers.get("Location")
                    if not location:
                        raise FetchError(f"{current}: HTTP {resp.status_code} redirect without a Location")
                    current = urljoin(current, location)
                    continue
                if resp.status_code != 200:
                    raise FetchError(f"{current}: HTTP {resp.status_code} {resp.reason or ''}".rstrip(),
                                     permanent=400 <= resp.status_code < 500 and resp.status_code not in _RETRY_STATUSES)
                data = _read_capped(resp, current, policy, deadline)
                return Fetched(url=current, data=data, content_type=resp.headers.get("Content-Type"),
                               etag=resp.headers.get("ETag"), last_modified=resp.headers.get("Last-Modified"))
            finally:
                resp.close()
        raise FetchError(f"{url}: more than {policy.max_redirects} redirects (fetch.max_redirects); last: {current}")
    finally:
        _active.deadline = None
        deadline.close()
        if own:
            session.close()


def fetch_image(url: str, policy: FetchPolicy, *, session: requests.Session | None = None) -> tuple[Fetched, "Image.Image"]:
    """fetch(), then decode: anything that is not a picture is a FetchError."""
    from dreamer import ImageError, load_image

    got = fetch(url, policy, session=session)
    try:
        image = load_image(got.data, name=got.url)
    except ImageError as exc:
        kind = f" (served as {got.content_type.split(';')[0]})" if got.content_type else ""
        raise FetchError(f"{got.url}: not an image{kind}: {exc}") from None
    return got, image


def make_session(policy: FetchPolicy) -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # no proxies or .netrc from the environment (see module doc)
    s.headers["User-Agent"] = policy.user_agent
    adapter = _GuardedAdapter(policy.allow_private)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


def _get(session: requests.Session, url: str, policy: FetchPolicy, deadline: "_Deadline",
         headers: Mapping[str, str] | None = None) -> requests.Response:
    left = deadline.left()
    if left <= 0:
        raise deadline.error(url)
    try:
        resp = session.get(
            url, stream=True, allow_redirects=False, headers=dict(headers or {}),
            timeout=(min(policy.connect_timeout, left), min(policy.read_timeout, left)),
        )
    except FetchError:
        raise
    except requests.RequestException as exc:
        if deadline.expired:
            raise deadline.error(url) from None
        if isinstance(exc, requests.Timeout):
            raise FetchError(f"{url}: timed out (fetch.connect_timeout / fetch.read_timeout)") from None
        raise FetchError(f"{url}: {_short(exc)}") from None
    if deadline.expired:  # the headers arrived, but only as the timer cut the connection
        resp.close()
        raise deadline.error(url)
    return resp


def _read_capped(resp: requests.Response, url: str, policy: FetchPolicy, deadline: "_Deadline") -> bytes:
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
        raise FetchError(f"{url}: {int(declared):,} bytes is over the cap of {policy.max_bytes:,} (fetch.max_bytes)")
    chunks, total = [], 0
    try:
        for chunk in resp.iter_content(65536):
            total += len(chunk)
            if total > policy.max_bytes:
                raise FetchError(f"{url}: more than {policy.max_bytes:,} bytes (fetch.max_bytes); stopped reading")
            if deadline.expired:
                raise deadline.error(url)
            chunks.append(chunk)
    except requests.RequestException as exc:
        if deadline.expired:
            raise deadline.error(url) from None
        raise FetchError(f"{url}: download broke off: {_short(exc)}") from None
    if deadline.expired:  # a body without a length ends "cleanly" when its socket is shut down
        raise deadline.error(url)
    return b"".join(chunks)


def _short(exc: BaseException) -> str:
    # requests wraps urllib3's MaxRetryError, whose .reason says what actually happened.
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", None)
    text = str(reason or inner or exc)
    return text if len(text) < 300 else text[:297] + "..."


# --- the deadline for a whole fetch ---------------------------------------------------------
_active = threading.local()  # .deadline: the _Deadline of the fetch running in this thread


class _Deadline:
    """A timer that, when `seconds` have passed, shuts down every socket the fetch used.

    Socket timeouts bound each read, not the sum of them: a server sending one byte every few
    seconds never trips them. Shutting the socket down wakes any read blocked on it (TLS too,
    as the shutdown is on the file descriptor). Each socket is watched through a duplicate of
    its descriptor, so a number the process reuses after close is never touched."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._end = time.monotonic() + seconds
        self.expired = False
        self._fds: list[int] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        return 0.0 if self.expired else max(0.0, self._end - time.monotonic())

    def error(self, url: str) -> FetchError:
        self.expired = True
        return FetchError(f"{url}: gave up after {self.seconds:g} s, the most a fetch may take "
                          "(fetch.total_timeout); the server was too slow")

    def watch(self, sock: socket.socket) -> None:
        try:
            fd = os.dup(sock.fileno())
        except OSError:
            return
        with self._lock:
            self._fds.append(fd)
            if self.expired:
                _shutdown(fd)

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            for fd in self._fds:
                _shutdown(fd)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            for fd in self._fds:
                os.close(fd)
            self._fds.clear()


def _shutdown(fd: int) -> None:
    s = socket.socket(fileno=fd)
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        s.detach()  # the descriptor stays ours; close() closes it


def _watch(sock: socket.socket | None) -> None:
    deadline = getattr(_active, "deadline", None)
    if deadline is not None and sock is not None:
        deadline.watch(sock)


# --- the connection-time check --------------------------------------------------------------
def _check_socket(sock: socket.socket, allow_private: bool, host: str) -> None:
    if allow_private:
        return
    addr = sock.getpeername()[0]
    why = refusal_phrase(addr)
    if why:
        sock.close()
        raise RefusedAddress(f"refused: {host} connected to {addr}, {why} (fetch.allow_private)")


class _WatchedPool:
    def _get_conn(self, timeout=None):  # a kept-alive connection joins the running fetch's deadline
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        _watch(getattr(conn, "sock", None))
        return conn


def _guarded_pools(allow_private: bool) -> dict[str, type]:
    class Conn(HTTPConnection):
        def _new_conn(self):  # type: ignore[override]
            sock = super()._new_conn()
            _check_socket(sock, allow_private, self.host)
            _watch(sock)
            return sock

    class TLSConn(HTTPSConnection):
        def _new_conn(self):  # type: ignore[override]
            sock = super()._new_conn()
            _check_socket(sock, allow_private, self.host)
            _watch(sock)
            return sock

    class Pool(_WatchedPool, HTTPConnectionPool):
        ConnectionCls = Conn

    class TLSPool(_WatchedPool, HTTPSConnectionPool):
        ConnectionCls = TLSConn

    return {"http": Pool, "https": TLSPool}


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, allow_private: bool):
        self._allow_private = allow_private
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):  # type: ignore[override]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _guarded_pools(self._allow_private)
