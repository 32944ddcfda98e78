"""A local Tumblr for bot processes: the calls the publisher makes (create a post, list the
blog's posts, its queue or its drafts), answered with Tumblr's documented responses
(tests/fixtures/tumblr) and the state of the posts it was sent, so a post made by a process
that was then killed is still there for the next process to find. Every request's OAuth1
signature is checked with oauthlib's server side, as Tumblr checks it."""
from __future__ import annotations

import copy
import email.parser
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from oauthlib.oauth1 import RequestValidator, ResourceEndpoint

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tumblr"
# Credentials this server accepts; not secrets.
KEYS = {"consumer_key": "ck0123456789abcdefghijklm", "consumer_secret": "cs0123456789abcdefghijklm",
        "oauth_token": "tk0123456789abcdefghijklm", "oauth_secret": "ts0123456789abcdefghijklm"}


class OAuthValidator(RequestValidator):
    client_key_length = access_token_length = nonce_length = (10, 64)
    dummy_client = "dummyclient0000000000"
    dummy_access_token = "dummytoken00000000000"
    enforce_ssl = False  # plain HTTP on 127.0.0.1

    def __init__(self) -> None:
        super().__init__()
        self.nonces: set[tuple[str, str]] = set()

    def validate_client_key(self, client_key, request):
        return client_key == KEYS["consumer_key"]

    def get_client_secret(self, client_key, request):
        return KEYS["consumer_secret"] if client_key == KEYS["consumer_key"] else "dummy"

    def validate_access_token(self, client_key, token, request):
        return token == KEYS["oauth_token"]

    def get_access_token_secret(self, client_key, token, request):
        return KEYS["oauth_secret"] if token == KEYS["oauth_token"] else "dummy"

    def validate_timestamp_and_nonce(self, client_key, timestamp, nonce, request, request_token=None,
                                     access_token=None):
        if (timestamp, nonce) in self.nonces or abs(time.time() - int(timestamp)) > 300:
            return False
        self.nonces.add((timestamp, nonce))
        return True

    def validate_realms(self, client_key, token, request, uri=None, realms=None):
        return True


@dataclass
class TumblrServer:
    """`with TumblrServer("blog") as t:` serves `t.api_root`; `t.posts` are the posts made,
    oldest first, each listed where its state puts it (published ones under /posts, queued
    ones under /posts/queue, drafts under /posts/draft; `publish_queue()` publishes the queue
    as Tumblr does, under new ids); `t.calls` every (method, path) that passed the signature
    check. A test puts (status, headers, body) in `t.faults` to answer the next calls with it
    instead (a limit, an outage); the call does nothing else."""

    blog: str
    posts: list[dict] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    faults: list[tuple[int, dict[str, str], dict]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._endpoint = ResourceEndpoint(OAuthValidator())
        self._created = json.loads((FIXTURES / "posts_create_201.json").read_text())
        self._listing = json.loads((FIXTURES / "posts_list_200.json").read_text())
        self._ids = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer._serve(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                outer._serve(self, "POST")

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.api_root = f"http://127.0.0.1:{self._httpd.server_address[1]}/v2"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "TumblrServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # --- the two calls ----------------------------------------------------------------------
    def _serve(self, h: BaseHTTPRequestHandler, method: str) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0)) or None
        url = f"{self.api_root.removesuffix('/v2')}{h.path}"
        valid, _ = self._endpoint.validate_protected_resource_request(
            url, http_method=method, body=body, headers=dict(h.headers.items()))
        if not valid:
            return self._answer(h, 401, {"meta": {"status": 401, "msg": "Unauthorized"}, "response": [],
                                         "errors": [{"title": "Unauthorized", "code": 1016}]})
        path = urlsplit(h.path).path
        with self._lock:
            self.calls.append((method, path))
            if self.faults:
                status, headers, answer = self.faults.pop(0)
                return self._answer(h, status, answer, headers)
            posts = f"/v2/blog/{self.blog}/posts"
            shelf = {posts: "published", f"{posts}/queue": "queue", f"{posts}/draft": "draft"}.get(path)
            if shelf is None or (method == "POST" and path != posts):
                return self._answer(h, 404, {"meta": {"status": 404, "msg": "Not Found"}, "response": []})
            if method == "POST":
                return self._create(h, body or b"")
            return self._list(h, parse_qs(urlsplit(h.path).query), shelf)

    def publish_queue(self) -> None:
        """What Tumblr's queue does in time: each queued post is published under a new id; the
        id it was made with is kept as its `genesis_post_id` and no longer finds it."""
        with self._lock:
            queued = [p for p in self.posts if p["state"] == "queue"]
            for post in queued:
                self.posts.remove(post)
                self.posts.append({**post, "state": "published", "id": self._new_id(), "genesis_post_id": post["id"]})

    def _new_id(self) -> str:
        self._ids += 1
        return str(1234567891234566 + self._ids)

    def _create(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        head = f"Content-Type: {h.headers['Content-Type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
        npf = json.loads(parts["json"].get_payload(decode=True))
        media = npf["content"][0]["media"]
        identifier = (media if isinstance(media, dict) else media[0])["identifier"]
        if identifier not in parts:  # Tumblr's 400.8001: a block names media that was not sent
            return self._answer(h, 400, {"meta": {"status": 400, "msg": "Bad Request"}, "response": [],
                                         "errors": [{"title": "media part missing", "code": 8001}]})
        post_id = self._new_id()
        self.posts.append({"id": post_id, "tags": [t for t in npf.get("tags", "").split(",") if t],
                           "state": npf.get("state", "published"), "content": npf["content"]})
        answer = copy.deepcopy(self._created)
        answer["response"]["id"] = post_id
        self._answer(h, 201, answer)

    def _list(self, h: BaseHTTPRequestHandler, query: dict[str, list[str]], shelf: str) -> None:
        limit = min(20, int(query.get("limit", ["20"])[0]))
        offset = int(query.get("offset", ["0"])[0])
        template = self._listing["response"]["posts"][0]
        shown = []
        on_shelf = [p for p in reversed(self.posts) if p["state"] == shelf]  # newest first
        for post in on_shelf[offset:offset + limit]:
            item = copy.deepcopy(template)
            # Tumblr lists a URL for every post, a queued one too (where it is not), and writes
            # the state "queue" a post was made with as "queued".
            item.update(blog_name=self.blog, id=int(post["id"]), id_string=post["id"], tags=post["tags"],
                        post_url=f"https://{self.blog}.tumblr.com/post/{post['id']}",
                        state={"queue": "queued"}.get(post["state"], post["state"]))
            if query.get("npf") == ["true"]:
                item.pop("body", None)
                item.update(type="blocks", is_blocks_post_format=True, content=post["content"], layout=[],
                            trail=[])
            shown.append(item)
        answer = copy.deepcopy(self._listing)
        answer["response"].update(blog={"name": self.blog}, posts=shown, total_posts=len(on_shelf))
        self._answer(h, 200, answer)

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
