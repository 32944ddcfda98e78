"""Shared pieces for the bot tests: small photos, a tiny-model config, a local HTTP server."""
from __future__ import annotations

import io
import os
import tempfile
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest
from PIL import Image

TINY_RECIPE = 'model = "tiny"\nsteps = 3\noctaves = 1\niterations = 2\nmax_pixels = 20000\n'


def photo_bytes(seed: int = 0, size: tuple[int, int] = (96, 64), fmt: str = "PNG") -> bytes:
    """A small picture whose pixels depend on `seed` (so each seed is new content)."""
    w, h = size
    im = Image.new("RGB", size)
    px = im.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = ((x * 3 + seed * 37) % 256, (y * 4 + seed * 11) % 256, (x + y + seed * 53) % 256)
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def write_photo(path: Path, seed: int = 0, *, age: float = 60.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(photo_bytes(seed, fmt="JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"))
    t = time.time() - age
    os.utime(path, (t, t))
    return path


def tiny_config(
    tmp_path: Path,
    *,
    extra: str = "",
    picker: str = 'allow = ["goldfish", "stingray", "peacock", "ostrich"]\nmin_classes = 1\nmax_classes = 2\n',
    schedule: str = "interval_minutes = 60\n",
    bot: str = "reload_check_seconds = 0\n",
    sources: str | None = None,
    name: str = "bot.toml",
) -> Path:
    """A config that dreams with the tiny random net into an outbox under tmp_path."""
    if sources is None:
        sources = '[[sources]]\ntype = "folder"\nname = "inbox"\npath = "inbox"\nsettle_seconds = 0\n' \
                  'author = "Test Photographer"\nlicence = "CC0"\n'
    text = (
        f'[bot]\nname = "Test Bot"\ndata_dir = "data"\n{bot}\n'
        f"[schedule]\n{schedule}\n"
        f"{sources}\n"
        f"[picker]\n{picker}\n"
        f"[recipe]\n{TINY_RECIPE}\n"
        f"{extra}\n"
    )
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- waiting on an event ------------------------------------------------------------------
def wait_for(what: Callable[[], object], timeout: float = 180.0, every: float = 0.1):
    """Poll what() until it gives something truthy (returned), or None after `timeout` seconds:
    tests wait on the event itself with a generous bound, never on a fixed sleep."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = what()
        if got:
            return got
        time.sleep(every)
    return None


# --- running as an ordinary user ----------------------------------------------------------
def unprivileged(fn) -> None:
    """Run fn() as nobody when the tests run as root (root reads any file, whatever its mode)."""
    if os.geteuid() != 0:
        fn()
        return
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, run, report
        code = 0
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            fn()
        except BaseException:
            os.write(w, traceback.format_exc().encode())
            code = 1
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        report = f.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report


@pytest.fixture
def open_dir():
    """A folder an unprivileged child may write in (pytest's own are root's alone)."""
    with tempfile.TemporaryDirectory(prefix="ldb-") as d:
        os.chmod(d, 0o777)
        yield Path(d)


Handler = Callable[[BaseHTTPRequestHandler], None]


class LocalServer:
    """An http.server on 127.0.0.1 in a thread. `routes[path]` is (status, headers, body) or
    a function of the request handler; every request path is appended to `hits`."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes] | Handler] = {}
        self.hits: list[str] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.hits.append(self.path)
                route = outer.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                if callable(route):
                    route(self)
                    return
                status, headers, body = route
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> "LocalServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def mastodon_mock_fixtures(seed):
    """(server, mock) pytest fixtures for a test module: one mastodon-mock server per module,
    reset to `seed` before each test. Assign both at module level: `server, mock = ...`."""
    import pytest
    import requests
    from mastodon_mock.testing import MockServer

    @pytest.fixture(scope="module")
    def server():
        with MockServer(seed=seed) as srv:
            yield srv

    @pytest.fixture
    def mock(server):
        requests.post(f"{server.base_url}/api/v1/_mock/reset", timeout=10).raise_for_status()
        return server

    return server, mock
