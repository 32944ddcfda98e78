"""TumblrPublisher against Tumblr's HTTP API as served by `responses`.

The fake server is strict where Tumblr is: every request's OAuth1 signature is verified
with oauthlib's own server-side ResourceEndpoint (a wrong secret gets the 401 Tumblr would
give), and the multipart body is parsed with the stdlib `email` parser to check the NPF
`json` part and the image part named by its identifier. Error answers copy the shapes of
Tumblr's documented errors (meta/errors with subcodes) and its HTML error pages.
"""
from __future__ import annotations

import email.parser
import email.policy
import io
import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import requests
import responses

pytest.importorskip("requests_oauthlib", reason="the [tumblr] extra is not installed")
from oauthlib.oauth1 import ResourceEndpoint  # noqa: E402
from PIL import Image

from bot.publishers import tumblr
from bot.publishers.base import Post, PublishError
from bot.publishers.marker import post_ref
from bot.publishers.tumblr import TumblrPublisher, seconds_until_daily_reset

from tests.tumblr_server import KEYS
from tests.tumblr_server import OAuthValidator as Validator  # knows one application and one user token

# Test credentials for the fake server only.
CONSUMER_KEY, CONSUMER_SECRET = KEYS["consumer_key"], KEYS["consumer_secret"]
TOKEN, TOKEN_SECRET = KEYS["oauth_token"], KEYS["oauth_secret"]
BLOG = "lucid-dreams"
POSTS_URL = f"https://api.tumblr.com/v2/blog/{BLOG}/posts"


def tumblr_json(status, msg, response=None, errors=None):
    body = {"meta": {"status": status, "msg": msg}, "response": response if response is not None else []}
    if errors:
        body["errors"] = errors
    return json.dumps(body)


UNAUTHORIZED = (401, {"Content-Type": "application/json"},
                tumblr_json(401, "Unauthorized", errors=[{"title": "Unauthorized", "code": 1016,
                                                            "detail": "Unable to authorize"}]))


class FakeTumblr:
    """Verifies OAuth1 on every request, records what passed, answers with `reply`."""

    def __init__(self, reply):
        self.endpoint = ResourceEndpoint(Validator())
        self.reply = reply
        self.requests = []

    def __call__(self, request):
        # requests-oauthlib hands requests bytes header values; on the wire they are text.
        headers = {_text(k): _text(v) for k, v in request.headers.items()}
        valid, _ = self.endpoint.validate_protected_resource_request(
            request.url, http_method=request.method, body=request.body, headers=headers
        )
        if not valid:
            return UNAUTHORIZED
        self.requests.append(request)
        return self.reply(request)


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def created(post_id="731234567891234567"):
    return lambda request: (201, {"Content-Type": "application/json"},
                            tumblr_json(201, "Created", {"id": post_id, "state": "published"}))


def multipart_parts(request):
    """{name: email.message part} for a multipart/form-data request body."""
    head = f"Content-Type: {_text(request.headers['Content-Type'])}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    assert message.is_multipart()
    return {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}


def posts_listing(posts):
    def reply(request):
        query = parse_qs(urlsplit(request.url).query)
        assert query["npf"] == ["true"]
        return (200, {"Content-Type": "application/json"},
                tumblr_json(200, "OK", {"blog": {"name": BLOG}, "posts": posts, "total_posts": len(posts)}))
    return reply


def listed(post_id, tags):
    return {"object_type": "post", "type": "blocks", "id": int(post_id), "id_string": post_id,
            "post_url": f"https://www.tumblr.com/{BLOG}/{post_id}", "tags": tags, "content": [], "state": "published"}


@pytest.fixture
def image_path(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "dream.png"
    Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(path)
    return path


def make_post(image_path, post_id="post-7", **kw):
    fields = dict(
        post_id=post_id,
        image_path=image_path,
        caption="goldfish × great white shark\nPhoto by Ann, CC BY 2.0: https://example.org/photo/1\n#DeepDream #art",
        alt_text="A harbour photo with goldfish scales and shark fins dreamt into the water.",
        tags=("machine made", "deepdream", "lucid, dream"),
        source_url="https://example.org/photo/1",
        title="Harbour, dreamt",
    )
    fields.update(kw)
    return Post(**fields)


def make_publisher(**kw):
    secret = kw.pop("consumer_secret", CONSUMER_SECRET)
    return TumblrPublisher(BLOG, CONSUMER_KEY, secret, TOKEN, TOKEN_SECRET, **kw)


# --- posting ------------------------------------------------------------------------------


@responses.activate
def test_publish_sends_a_signed_multipart_npf_post(image_path):
    fake = FakeTumblr(created())
    responses.add_callback(responses.POST, POSTS_URL, callback=fake)
    post = make_post(image_path)

    published = make_publisher(state="queue").publish(post)

    assert published.remote_id == "731234567891234567"
    assert published.url is None  # queued posts have no public URL yet
    [request] = fake.requests
    assert _text(request.headers["User-Agent"]).startswith("lucid-dream-bot/")
    parts = multipart_parts(request)
    assert list(parts) == ["json", "dream"]  # the JSON part first, then the media

    assert parts["json"].get_content_type() == "application/json"
    npf = json.loads(parts["json"].get_payload(decode=True))
    image_block, heading, *text_blocks = npf["content"]
    assert image_block == {
        "type": "image",
        "media": [{"type": "image/png", "identifier": "dream", "width": 120, "height": 90}],
        "alt_text": post.alt_text,
    }
    assert heading == {"type": "text", "subtype": "heading1", "text": "Harbour, dreamt"}
    assert [b["text"] for b in text_blocks] == [
        "goldfish × great white shark",
        "Photo by Ann, CC BY 2.0: https://example.org/photo/1",
    ]
    link = text_blocks[1]["formatting"][0]
    assert text_blocks[1]["text"][link["start"]:link["end"]] == "https://example.org/photo/1"
    assert link["type"] == "link" and link["url"] == "https://example.org/photo/1"
    # configured tags first, the caption's trailing hashtag folded in, duplicates and commas gone
    assert npf["tags"].split(",") == ["machine made", "deepdream", "lucid dream", "art", post_ref(post.post_id)]
    assert npf["source_url"] == "https://example.org/photo/1"
    assert npf["state"] == "queue"

    image_part = parts["dream"]
    assert image_part.get_content_type() == "image/png"
    assert image_part.get_filename() == "dream.png"
    assert image_part.get_payload(decode=True) == image_path.read_bytes()  # fitted: sent unchanged


@responses.activate
def test_published_post_url_and_image_reencoded_to_limits(image_path, monkeypatch):
    monkeypatch.setattr(tumblr, "MAX_IMAGE_PIXELS", 5000)
    monkeypatch.setattr(tumblr, "MAX_IMAGE_BYTES", 6000)
    fake = FakeTumblr(created("42"))
    responses.add_callback(responses.POST, POSTS_URL, callback=fake)

    published = make_publisher().publish(make_post(image_path))

    assert published.url == f"https://www.tumblr.com/{BLOG}/42"
    parts = multipart_parts(fake.requests[0])
    data = parts["dream"].get_payload(decode=True)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and parts["dream"].get_content_type() == "image/jpeg"
    assert len(data) <= 6000 and image.width * image.height <= 5000
    media = json.loads(parts["json"].get_payload(decode=True))["content"][0]["media"][0]
    assert (media["type"], media["width"], media["height"]) == ("image/jpeg", image.width, image.height)


# --- errors -------------------------------------------------------------------------------


@responses.activate
def test_wrong_credentials_fail_the_signature_check_and_are_permanent(image_path):
    fake = FakeTumblr(created())
    responses.add_callback(responses.POST, POSTS_URL, callback=fake)
    with pytest.raises(PublishError) as err:
        make_publisher(consumer_secret="wrongsecret0000000000000").publish(make_post(image_path))
    assert fake.requests == []  # the fake server refused it: the signature really is checked
    assert err.value.transient is False
    message = str(err.value)
    assert "HTTP 401" in message and "OAuth credentials" in message
    assert "wrongsecret" not in message and TOKEN_SECRET not in message


HTML_403 = """<!DOCTYPE html><html><head><title>403 Forbidden</title></head>
<body><h1>Forbidden</h1><p>You don't have permission to access this resource.</p></body></html>"""


@responses.activate
def test_html_403_page_becomes_a_clear_permanent_error(image_path):
    responses.add_callback(responses.POST, POSTS_URL,
                           callback=FakeTumblr(lambda r: (403, {"Content-Type": "text/html"}, HTML_403)))
    with pytest.raises(PublishError) as err:
        make_publisher().publish(make_post(image_path))
    assert err.value.transient is False
    message = str(err.value)
    assert "HTTP 403" in message and "text/html" in message and "403 Forbidden" in message
    assert "<html" not in message


@pytest.mark.parametrize("code, title", [
    (8004, "You cannot upload more media today"),
    (8023, "You have reached your daily posting limit"),
])
@responses.activate
def test_daily_limits_are_transient_until_the_day_turns_and_stop_further_calls(image_path, code, title):
    fake = FakeTumblr(lambda r: (403, {"Content-Type": "application/json"},
                                 tumblr_json(403, "Forbidden", errors=[{"title": title, "code": code}])))
    responses.add_callback(responses.POST, POSTS_URL, callback=fake)
    publisher = make_publisher()
    with pytest.raises(PublishError) as err:
        publisher.publish(make_post(image_path))
    assert err.value.transient is True
    assert f"HTTP 403.{code}" in str(err.value) and title in str(err.value)
    assert 60 < err.value.retry_after <= 24 * 3600 + 60

    with pytest.raises(PublishError) as again:
        publisher.publish(make_post(image_path, post_id="next"))
    assert again.value.transient is True and "not trying to" in str(again.value)
    assert len(responses.calls) == 1  # Tumblr was not asked again

    responses.add_callback(responses.GET, POSTS_URL, callback=FakeTumblr(posts_listing([])))
    assert publisher.find_existing(make_post(image_path)) is None  # reading is still allowed
    assert len(responses.calls) == 2


@responses.activate
def test_bad_npf_is_permanent_with_tumblrs_reason(image_path):
    responses.add_callback(responses.POST, POSTS_URL, callback=FakeTumblr(
        lambda r: (400, {"Content-Type": "application/json"},
                   tumblr_json(400, "Bad Request", errors=[{"title": "'content' must be an array'", "code": 8001}]))))
    with pytest.raises(PublishError) as err:
        make_publisher().publish(make_post(image_path))
    assert err.value.transient is False
    assert "HTTP 400.8001" in str(err.value) and "'content' must be an array" in str(err.value)


@pytest.mark.parametrize("headers, body, expected", [
    ({"Retry-After": "90", "Content-Type": "application/json"},
     tumblr_json(429, "Limit Exceeded", errors=[{"title": "Limit Exceeded", "code": 0}]), 90),
    ({"X-Ratelimit-Perhour-Remaining": "0", "X-Ratelimit-Perhour-Reset": "1234", "Content-Type": "text/html"},
     "<html><title>Too Many Requests</title></html>", 1234),
])
@responses.activate
def test_429_is_transient_and_honours_the_wait(image_path, headers, body, expected):
    responses.add_callback(responses.POST, POSTS_URL, callback=FakeTumblr(lambda r: (429, headers, body)))
    with pytest.raises(PublishError) as err:
        make_publisher().publish(make_post(image_path))
    assert err.value.transient is True
    assert err.value.retry_after == expected
    assert "429" in str(err.value)


@pytest.mark.parametrize("status, headers, body", [
    (500, {"Content-Type": "application/json"},
     tumblr_json(500, "Server Error", errors=[{"title": "Unknown upload error", "code": 8006}])),
    (502, {"Content-Type": "text/html"}, "<html><title>502 Bad Gateway</title></html>"),
])
@responses.activate
def test_server_errors_are_transient(image_path, status, headers, body):
    responses.add_callback(responses.POST, POSTS_URL, callback=FakeTumblr(lambda r: (status, headers, body)))
    with pytest.raises(PublishError) as err:
        make_publisher().publish(make_post(image_path))
    assert err.value.transient is True
    assert f"HTTP {status}" in str(err.value)


@responses.activate
def test_timeout_is_transient(image_path):
    responses.add(responses.POST, POSTS_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(PublishError) as err:
        make_publisher(timeout=5).publish(make_post(image_path))
    assert err.value.transient is True
    assert "did not answer within 5s" in str(err.value)


@responses.activate
def test_unreadable_success_is_resolved_by_looking_for_the_post(image_path):
    post = make_post(image_path)
    responses.add_callback(responses.POST, POSTS_URL,
                           callback=FakeTumblr(lambda r: (201, {"Content-Type": "text/plain"}, "Created")))
    listing = FakeTumblr(posts_listing([]))
    responses.add_callback(responses.GET, POSTS_URL, callback=listing)
    publisher = make_publisher()

    with pytest.raises(PublishError) as err:
        publisher.publish(post)
    assert err.value.transient is True  # not found (yet): retry later
    assert "HTTP 201" in str(err.value) and "text/plain" in str(err.value)

    listing.reply = posts_listing([listed("555", ["deepdream", post_ref(post.post_id)])])
    found = publisher.publish(post)  # it did get posted: found, not posted again
    assert found.remote_id == "555"
    assert [c.request.method for c in responses.calls] == ["POST", "GET", "POST", "GET"]


@responses.activate
def test_local_daily_count_stops_before_tumblrs_limit(image_path, monkeypatch):
    monkeypatch.setattr(tumblr, "DAILY_POST_LIMIT", 2)
    responses.add_callback(responses.POST, POSTS_URL, callback=FakeTumblr(created()))
    publisher = make_publisher()
    publisher.publish(make_post(image_path, post_id="a"))
    publisher.publish(make_post(image_path, post_id="b"))
    with pytest.raises(PublishError) as err:
        publisher.publish(make_post(image_path, post_id="c"))
    assert err.value.transient is True and "daily limit" in str(err.value)
    assert len(responses.calls) == 2

    counted_elsewhere = make_publisher(posts_today=lambda: 2)  # e.g. the store after a restart
    with pytest.raises(PublishError):
        counted_elsewhere.publish(make_post(image_path, post_id="d"))
    assert len(responses.calls) == 2


def test_daily_reset_is_the_next_utc_or_new_york_midnight():
    at = datetime(2026, 3, 10, 23, 30, tzinfo=timezone.utc)
    assert seconds_until_daily_reset(at) == 30 * 60 + 60
    at = datetime(2026, 3, 11, 2, 0, tzinfo=timezone.utc)
    assert seconds_until_daily_reset(at) == 3 * 3600 + 60  # 05:00 UTC comes first
    assert seconds_until_daily_reset(at, utc_only=True) == 22 * 3600 + 60


# --- find_existing ------------------------------------------------------------------------


@responses.activate
def test_find_existing_matches_the_reference_tag(image_path):
    post = make_post(image_path)
    fake = FakeTumblr(posts_listing([
        listed("900", ["deepdream", "machine made"]),
        listed("899", ["deepdream", post_ref(post.post_id)]),
    ]))
    responses.add_callback(responses.GET, POSTS_URL, callback=fake)
    publisher = make_publisher()

    found = publisher.find_existing(post)
    assert found is not None
    assert (found.remote_id, found.url) == ("899", f"https://www.tumblr.com/{BLOG}/899")
    assert publisher.find_existing(make_post(image_path, post_id="never-posted")) is None
    assert len(fake.requests) == 2  # both lookups passed the signature check


@responses.activate
def test_find_existing_looks_in_the_queue_for_queued_posts(image_path):
    post = make_post(image_path)
    responses.add_callback(responses.GET, f"{POSTS_URL}/queue",
                           callback=FakeTumblr(posts_listing([listed("77", [post_ref(post.post_id)])])))
    found = make_publisher(state="queue").find_existing(post)
    assert found is not None and found.remote_id == "77"


@responses.activate
def test_find_existing_raises_when_tumblr_cannot_be_asked(image_path):
    responses.add_callback(responses.GET, POSTS_URL, callback=FakeTumblr(
        lambda r: (503, {"Content-Type": "text/html"}, "<title>Service Unavailable</title>")))
    with pytest.raises(PublishError) as err:
        make_publisher().find_existing(make_post(image_path))
    assert err.value.transient is True and "HTTP 503" in str(err.value)


# --- dives: an NPF video block (issue 16) ---------------------------------------------------


def _dive(tmp_path):
    from dreamer.video import VideoWriter, poster

    video = tmp_path / "dive.mp4"
    with VideoWriter(video, "mp4", (64, 48), 8) as w:
        for i in range(8):
            frame = np.full((48, 64, 3), i * 30, np.uint8)
            w.write(frame)
    still = tmp_path / "dive.png"
    poster(video).save(still)
    return video, still


@responses.activate
def test_a_dive_is_posted_as_an_npf_video_block_with_its_poster(tmp_path):
    fake = FakeTumblr(created())
    responses.add_callback(responses.POST, POSTS_URL, callback=fake)
    video, still = _dive(tmp_path)
    post = make_post(still, video_path=video, alt_text="Video, 1 seconds, zooming slowly into a dream.")
    make_publisher().publish(post)
    [request] = fake.requests
    parts = multipart_parts(request)
    assert list(parts) == ["json", "dream", "dive"]
    npf = json.loads(parts["json"].get_payload(decode=True))
    video_block, described, heading, *_ = npf["content"]
    assert video_block == {
        "type": "video",
        "media": {"type": "video/mp4", "identifier": "dive", "width": 64, "height": 48},
        "poster": [{"type": "image/png", "identifier": "dream", "width": 64, "height": 48}],
    }
    assert described == {"type": "text", "subtype": "quote", "text": post.alt_text}  # video blocks have no alt
    assert heading["subtype"] == "heading1"
    assert parts["dive"].get_content_type() == "video/mp4"
    assert parts["dive"].get_payload(decode=True) == video.read_bytes()
    assert parts["dream"].get_content_type() == "image/png"


@responses.activate
def test_dives_have_their_own_daily_limit(tmp_path, image_path):
    fake = FakeTumblr(created())
    responses.add_callback(responses.POST, POSTS_URL, callback=fake)
    video, still = _dive(tmp_path)
    pub = make_publisher(posts_today=lambda: 10, videos_today=lambda: tumblr.DAILY_VIDEO_LIMIT)
    with pytest.raises(PublishError) as err:
        pub.publish(make_post(still, video_path=video))
    assert err.value.transient and err.value.retry_after > 0 and "daily video limit" in str(err.value)
    assert fake.requests == []  # not even tried
    pub.publish(make_post(image_path, post_id="post-8"))  # pictures keep going
    assert len(fake.requests) == 1
    # counted in memory without a store: the day's videos run out, the pictures do not
    mem = make_publisher()
    for n in range(tumblr.DAILY_VIDEO_LIMIT):
        mem.publish(make_post(still, post_id=f"dive-{n}", video_path=video))
    with pytest.raises(PublishError):
        mem.publish(make_post(still, post_id="dive-x", video_path=video))
    mem.publish(make_post(image_path, post_id="post-9"))


def test_the_local_daily_counts_start_again_at_midnight_utc():
    count = tumblr._DailyCount()
    count.add()
    count.add()
    assert count.today() == 2
    count.day = "2000-01-01"  # the count was made on another (UTC) day
    assert count.today() == 0
    count.add()
    assert count.today() == 1
