"""Safe fetching: what is refused (addresses, schemes, redirects, size, non-images) and what works."""
from __future__ import annotations

import threading

import pytest

from bot.sources.fetch import FetchError, FetchPolicy, RefusedAddress, fetch, fetch_image, make_session, refusal
from bot_helpers import LocalServer, photo_bytes

OPEN = FetchPolicy(allow_private=True, connect_timeout=5, read_timeout=5, total_timeout=20)


@pytest.mark.parametrize("addr,why", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("10.1.2.3", "private"), ("192.168.0.1", "private"), ("172.16.5.5", "private"), ("fd00::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1%eth0", "link-local"),
    ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"), ("240.0.0.1", "reserved"),
    ("100.64.0.1", "not a public address"),
])
def test_non_public_addresses_are_refused(addr, why):
    assert refusal(addr) == why


@pytest.mark.parametrize("addr", ["8.8.8.8", "151.101.1.1", "2606:4700::1111"])
def test_public_addresses_pass(addr):
    assert refusal(addr) is None


def test_loopback_refused_by_default():
    with LocalServer() as srv:
        srv.routes["/a.png"] = (200, {"Content-Type": "image/png"}, photo_bytes())
        with pytest.raises(RefusedAddress, match="127.0.0.1, a loopback address"):
            fetch(srv.url("/a.png"), FetchPolicy())
        assert srv.hits == []  # refused before connecting
        got, image = fetch_image(srv.url("/a.png"), OPEN)  # and allowed when the operator says so
        assert image.size == (96, 64) and got.data == photo_bytes()


def test_localhost_name_resolves_and_is_refused():
    with pytest.raises(RefusedAddress, match="localhost resolves to"):
        fetch("http://localhost:9/x.png", FetchPolicy())


def test_connected_address_is_checked_too():
    # A DNS answer that changes after the first check (rebinding) still ends at the socket:
    # the session refuses to talk to a loopback peer even when check_url is bypassed.
    with LocalServer() as srv:
        srv.routes["/a.png"] = (200, {}, photo_bytes())
        with make_session(FetchPolicy()) as s, pytest.raises(RefusedAddress, match="connected to 127.0.0.1"):
            s.get(srv.url("/a.png"), timeout=5)
        assert srv.hits == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/a.png", "/etc/passwd", "gopher://x/"])
def test_other_schemes_refused(url):
    with pytest.raises(FetchError, match="only http:// and https://"):
        fetch(url, OPEN)


def test_redirects_followed_and_capped():
    with LocalServer() as srv:
        srv.routes["/img.png"] = (200, {}, photo_bytes(3))
        for i in range(4):
            srv.routes[f"/r{i}"] = (302, {"Location": f"/r{i + 1}" if i < 3 else "/img.png"}, b"")
        got = fetch(srv.url("/r1"), OPEN)  # r1 -> r2 -> r3 -> img: 3 redirects
        assert got.url == srv.url("/img.png") and got.data == photo_bytes(3)
        policy = FetchPolicy(allow_private=True, max_redirects=2)
        with pytest.raises(FetchError, match="more than 2 redirects"):
            fetch(srv.url("/r1"), policy)


def test_each_redirect_hop_is_checked():
    with LocalServer() as srv:
        srv.routes["/to-file"] = (301, {"Location": "file:///etc/passwd"}, b"")
        with pytest.raises(FetchError, match="only http:// and https://"):
            fetch(srv.url("/to-file"), OPEN)
        srv.routes["/to-nowhere"] = (302, {"Location": "http://metadata.invalid/latest/"}, b"")
        with pytest.raises(FetchError, match="metadata.invalid/latest/: cannot resolve"):
            fetch(srv.url("/to-nowhere"), OPEN)
        assert srv.hits == ["/to-file", "/to-nowhere"]


def test_size_cap_declared_and_streamed():
    big = b"\x89PNG" + b"0" * 50_000
    with LocalServer() as srv:
        srv.routes["/declared"] = (200, {}, big)

        def chunked(h):
            h.send_response(200)
            h.send_header("Connection", "close")
            h.end_headers()
            for _ in range(100):
                h.wfile.write(b"x" * 1000)

        srv.routes["/stream"] = chunked
        small = FetchPolicy(allow_private=True, max_bytes=10_000)
        with pytest.raises(FetchError, match="over the cap of 10,000"):
            fetch(srv.url("/declared"), small)
        with pytest.raises(FetchError, match=r"more than 10,000 bytes \(fetch.max_bytes\)"):
            fetch(srv.url("/stream"), small)


def test_html_instead_of_an_image():
    with LocalServer() as srv:
        srv.routes["/page"] = (200, {"Content-Type": "text/html; charset=utf-8"},
                               b"<!doctype html><html><body>Not found</body></html>")
        with pytest.raises(FetchError, match=r"not an image \(served as text/html\)"):
            fetch_image(srv.url("/page"), OPEN)


def test_http_errors_and_timeouts():
    with LocalServer() as srv:
        srv.routes["/gone"] = (404, {}, b"")
        answer = threading.Event()

        def slow(h):
            # Answers once the client gave up (released below), or after 20 s: well inside the
            # default read timeout (30 s), so a fetch that ignored read_timeout=0.3 would get
            # this answer instead of timing out; and 60 times the 0.3 s asked for.
            answer.wait(20)
            h.send_response(200)
            h.end_headers()

        srv.routes["/slow"] = slow
        with pytest.raises(FetchError, match="HTTP 404"):
            fetch(srv.url("/gone"), OPEN)
        try:
            with pytest.raises(FetchError, match="timed out"):
                fetch(srv.url("/slow"), FetchPolicy(allow_private=True, read_timeout=0.3))
        finally:
            answer.set()


def test_unresolvable_host():
    with pytest.raises(FetchError, match="cannot resolve"):
        fetch("http://no-such-host.invalid/a.png", FetchPolicy())
