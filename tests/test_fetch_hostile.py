"""Hostile servers: fetch.total_timeout holds against trickled status lines, headers and bodies
(over kept-alive connections and redirects too), and IPv6 forms of private IPv4 addresses are
refused, with refusals that read as English."""
from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from bot.sources.fetch import FetchError, FetchPolicy, RefusedAddress, check_url, fetch, make_session, refusal
from bot.sources.fetch import refusal_phrase
from bot_helpers import LocalServer, photo_bytes

SLOW = 600  # bytes trickled one at a time: 30 s at GAP, far past any deadline below
GAP = 0.05
POLICY = FetchPolicy(allow_private=True, connect_timeout=5, read_timeout=5, total_timeout=0.5)


class Trickle:
    """A raw TCP server. For each request on a connection it answers with the next
    (head, slow, tail) of `answers`: `head` at once, `slow` one byte every GAP s, then `tail`.
    `cut` is set when the client hung up before an answer was complete."""

    def __init__(self, *answers: tuple[bytes, bytes, bytes]):
        self.answers = answers
        self.cut = threading.Event()
        self.completed = 0  # answers sent whole
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/x.png") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            for head, slow, tail in self.answers:
                request = b""
                while b"\r\n\r\n" not in request:
                    more = conn.recv(4096)
                    if not more:
                        return
                    request += more
                conn.sendall(head)
                for i in range(len(slow)):
                    time.sleep(GAP)
                    conn.sendall(slow[i:i + 1])
                conn.sendall(tail)
                self.completed += 1
        except OSError:
            self.cut.set()
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n"


@pytest.mark.parametrize("answer", [
    # the status line, a byte at a time
    (b"", b"HTTP/1.1 200 " + b"O" * SLOW, b"K\r\nContent-Length: 0\r\n\r\n"),
    # one endless header
    (OK_HEAD, b"X-Slow: " + b"a" * SLOW, b"\r\nContent-Length: 0\r\n\r\n"),
    # many short headers
    (OK_HEAD, b"".join(b"X-%d: 1\r\n" % i for i in range(SLOW // 8)), b"Content-Length: 0\r\n\r\n"),
    # a body of declared length
    (OK_HEAD + b"Content-Length: %d\r\n\r\n" % SLOW, b"x" * SLOW, b""),
    # a body that ends when the connection closes (no length): cut short, it must not pass as whole
    (OK_HEAD + b"Connection: close\r\n\r\n", b"x" * SLOW, b""),
    # a chunked body of one-byte chunks
    (OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n", b"1\r\nx\r\n" * (SLOW // 6), b"0\r\n\r\n"),
], ids=["status-line", "long-header", "many-headers", "body", "body-until-close", "chunked"])
def test_total_timeout_cuts_off_a_trickling_server(answer):
    srv = Trickle(answer)
    try:
        with pytest.raises(FetchError, match=r"gave up after 0.5 s.*\(fetch.total_timeout\)"):
            fetch(srv.url(), POLICY)
        assert srv.cut.wait(60), "the server was never cut off"
        assert srv.completed == 0
    finally:
        srv.close()


def test_total_timeout_covers_a_kept_alive_connection_and_every_redirect_hop():
    fast = (OK_HEAD + b"Content-Length: 3\r\n\r\n", b"", b"abc")
    slow_body = (OK_HEAD + b"Content-Length: %d\r\n\r\n" % SLOW, b"x" * SLOW, b"")
    srv = Trickle(fast, slow_body)  # the second request on the same connection trickles
    try:
        with make_session(POLICY) as session:
            assert fetch(srv.url(), POLICY, session=session).data == b"abc"
            with pytest.raises(FetchError, match="fetch.total_timeout"):
                fetch(srv.url(), POLICY, session=session)
        assert srv.cut.wait(60) and srv.completed == 1  # the fast answer only
    finally:
        srv.close()
    srv = Trickle(slow_body)
    try:
        with LocalServer() as hop:
            hop.routes["/go"] = (302, {"Location": srv.url()}, b"")
            with pytest.raises(FetchError, match="fetch.total_timeout"):
                fetch(hop.url("/go"), POLICY)
        assert srv.cut.wait(60) and srv.completed == 0
    finally:
        srv.close()


def test_a_fast_fetch_is_not_cut_and_its_connection_is_reused():
    with LocalServer() as srv:
        srv.routes["/a.png"] = (200, {"Content-Type": "image/png"}, photo_bytes())
        policy = FetchPolicy(allow_private=True, total_timeout=30)
        with make_session(policy) as session:
            for _ in range(3):
                assert fetch(srv.url("/a.png"), policy, session=session).data == photo_bytes()


def test_slow_urls_cannot_hold_a_url_list_source(tmp_path):
    from bot.sources.urls import UrlsSource
    from bot.store import Store

    srv = Trickle((OK_HEAD + b"Content-Length: %d\r\n\r\n" % SLOW, b"x" * SLOW, b""))
    try:
        lst = tmp_path / "urls.txt"
        lst.write_text(f"{srv.url('/1.png')}\n{srv.url('/2.png')}\n", encoding="utf-8")
        store = Store(tmp_path / "bot.db")
        assert UrlsSource("list", lst, POLICY).take(store) is None
        errors = [r["error"] for r in store._query("SELECT error FROM sources WHERE status = 'failed'")]
        assert len(errors) == 2 and all("fetch.total_timeout" in e for e in errors), errors
    finally:
        srv.close()


# --- addresses ------------------------------------------------------------------------------
HIDDEN_PRIVATE = [
    "::ffff:127.0.0.1",              # IPv4-mapped
    "::ffff:0:10.0.0.1",             # IPv4-translated (SIIT)
    "::10.1.2.3",                    # IPv4-compatible
    "2002:7f00:1::1",                # 6to4 of 127.0.0.1
    "2002:a00:1::",                  # 6to4 of 10.0.0.1
    "2002:c0a8:101:1::5",            # 6to4 of 192.168.1.1
    "2002:a9fe:a9fe::1",             # 6to4 of 169.254.169.254 (cloud metadata)
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    "2001:0:a00:1::1",               # Teredo, server 10.0.0.1
    "64:ff9b::10.0.0.1",             # NAT64 well-known prefix
    "64:ff9b::7f00:1",               # NAT64 of 127.0.0.1
    "64:ff9b:1::a9fe:a9fe",          # NAT64 local-use prefix
    "2a00:1450::5efe:10.0.0.1",      # ISATAP
    "2a00:1450::200:5efe:192.168.0.1",
]


@pytest.mark.parametrize("addr", HIDDEN_PRIVATE)
def test_ipv6_forms_of_private_ipv4_are_refused(addr):
    assert refusal(addr) is not None
    phrase = refusal_phrase(addr)
    assert re.search(r"\d+\.\d+\.\d+\.\d+", phrase), phrase  # names the IPv4 address it leads to


@pytest.mark.parametrize("addr", ["2002:808:808::1", "64:ff9b::8.8.8.8", "2606:4700::1111", "2a00:1450:4001:81c::200e"])
def test_ipv6_forms_of_public_addresses_pass(addr):
    assert refusal(addr) is None


@pytest.mark.parametrize("addr", ["0.0.0.0", "::", "100.64.0.1", "127.0.0.1", "10.0.0.1", "169.254.1.1", "224.0.0.1",
                                  "240.0.0.1", "fe80::1", "ff02::1", "::1", "2002:a00:1::", "64:ff9b::7f00:1",
                                  "192.0.0.1", "198.18.0.1"])
def test_refusals_read_as_english(addr):
    phrase = refusal_phrase(addr)
    assert phrase.startswith(("a ", "an "))
    assert not re.search(r"\ba [aeiou]|\ban [^aeiou\s]|address address|\ba not\b", phrase, re.I), phrase


def test_refusal_message_through_the_resolver():
    with pytest.raises(RefusedAddress) as info:
        check_url("http://0.0.0.0:9/x.png", FetchPolicy())
    assert "0.0.0.0, an unspecified address" in str(info.value)
    with pytest.raises(RefusedAddress) as info:
        check_url("http://[2002:a00:1::]:9/x.png", FetchPolicy())
    assert "a 6to4 address for 10.0.0.1, a private address" in str(info.value)
