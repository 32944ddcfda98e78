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

import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

if TYPE_CHECKING:
    from PIL import Image

    from bot.config import FetchSection

REDIRECTS = (301, 302, 303, 307, 308)


class FetchError(Exception):
    """A URL could not be fetched or was refused; the message says which and why."""


class RefusedAddress(FetchError):
    pass


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


def refusal(ip_text: str) -> str | None:
    """Why an address may not be fetched from, or None when it is a public one."""
    ip = ipaddress.ip_address(ip_text.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for attr, why in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_reserved", "reserved"),
        ("is_private", "private"),
    ):
        if getattr(ip, attr):
            return why
    if not ip.is_global:
        return "not a public address"
    return None


def check_url(url: str, policy: FetchPolicy) -> None:
    """Refuse a URL before any connection: scheme, host, and every address it resolves to."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchError(f"{url}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"{url}: only http:// and https:// URLs are fetched, not {parts.scheme or 'a bare path'}")
    host = parts.hostname
    if not host:
        raise FetchError(f"{url}: the URL has no host")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"{url}: cannot resolve {host} ({exc.strerror or exc})") from None
    if policy.allow_private:
        return
    for info in infos:
        addr = info[4][0]
        why = refusal(addr)
        if why:
            raise RefusedAddress(
                f"{url}: refused: {host} resolves to {addr}, a {why} address "
                "(set fetch.allow_private = true only if the bot should reach your own network)"
            )


def fetch(url: str, policy: FetchPolicy, *, session: requests.Session | None = None) -> Fetched:
    """GET a URL within the policy. Raises FetchError with a one-line reason."""
    own = session is None
    session = session or make_session(policy)
    deadline = time.monotonic() + policy.total_timeout
    current = url
    try:
        for hop in range(policy.max_redirects + 1):
            check_url(current, policy)
            resp = _get(session, current, policy)
            try:
                if resp.status_code in REDIRECTS:
                    location = resp.headers.get("Location")
                    if not location:
                        raise FetchError(f"{current}: HTTP {resp.status_code} redirect without a Location")
                    current = urljoin(current, location)
                    continue
                if resp.status_code != 200:
                    raise FetchError(f"{current}: HTTP {resp.status_code} {resp.reason or ''}".rstrip())
                data = _read_capped(resp, current, policy, deadline)
                return Fetched(url=current, data=data, content_type=resp.headers.get("Content-Type"))
            finally:
                resp.close()
        raise FetchError(f"{url}: more than {policy.max_redirects} redirects (fetch.max_redirects); last: {current}")
    finally:
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


def _get(session: requests.Session, url: str, policy: FetchPolicy) -> requests.Response:
    try:
        return session.get(
            url, stream=True, allow_redirects=False, timeout=(policy.connect_timeout, policy.read_timeout)
        )
    except FetchError:
        raise
    except requests.Timeout:
        raise FetchError(f"{url}: timed out (fetch.connect_timeout / fetch.read_timeout)") from None
    except requests.RequestException as exc:
        raise FetchError(f"{url}: {_short(exc)}") from None


def _read_capped(resp: requests.Response, url: str, policy: FetchPolicy, deadline: float) -> bytes:
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
        raise FetchError(f"{url}: {int(declared):,} bytes is over the cap of {policy.max_bytes:,} (fetch.max_bytes)")
    chunks, total = [], 0
    try:
        for chunk in resp.iter_content(65536):
            total += len(chunk)
            if total > policy.max_bytes:
                raise FetchError(f"{url}: more than {policy.max_bytes:,} bytes (fetch.max_bytes); stopped reading")
            if time.monotonic() > deadline:
                raise FetchError(f"{url}: download took longer than {policy.total_timeout:g} s (fetch.total_timeout)")
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise FetchError(f"{url}: download broke off: {_short(exc)}") from None
    return b"".join(chunks)


def _short(exc: BaseException) -> str:
    # requests wraps urllib3's MaxRetryError, whose .reason says what actually happened.
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", None)
    text = str(reason or inner or exc)
    return text if len(text) < 300 else text[:297] + "..."


# --- the connection-time check --------------------------------------------------------------
def _check_socket(sock: socket.socket, allow_private: bool, host: str) -> None:
    if allow_private:
        return
    addr = sock.getpeername()[0]
    why = refusal(addr)
    if why:
        sock.close()
        raise RefusedAddress(f"refused: {host} connected to {addr}, a {why} address (fetch.allow_private)")


def _guarded_pools(allow_private: bool) -> dict[str, type]:
    class Conn(HTTPConnection):
        def _new_conn(self):  # type: ignore[override]
            sock = super()._new_conn()
            _check_socket(sock, allow_private, self.host)
            return sock

    class TLSConn(HTTPSConnection):
        def _new_conn(self):  # type: ignore[override]
            sock = super()._new_conn()
            _check_socket(sock, allow_private, self.host)
            return sock

    class Pool(HTTPConnectionPool):
        ConnectionCls = Conn

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = TLSConn

    return {"http": Pool, "https": TLSPool}


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, allow_private: bool):
        self._allow_private = allow_private
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):  # type: ignore[override]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _guarded_pools(self._allow_private)
