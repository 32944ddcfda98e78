"""MastodonPublisher against a real HTTP server: mastodon-mock on a loopback port.

Failures are produced with the mock's fault-injection control plane (/api/v1/_mock/faults),
and different server limits by making its /api/v2/instance answer a modified copy of its
own body (the mock hard-codes its limits). The limit parsing is also checked on real
mastodon.social bodies from Mastodon's documentation (tests/fixtures/mastodon).
"""
from __future__ import annotations

import copy
import io
import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import requests
from mastodon_mock.config import DatabaseConfig, MastodonMockConfig, RateLimitConfig, SeedAccount, SeedConfig
from mastodon_mock.testing import MockServer

from bot_helpers import mastodon_mock_fixtures
from PIL import Image

from bot.publishers.base import Post, PublishError
from bot.publishers.marker import contains_ref, post_ref
from bot.publishers.mastodon import MastodonPublisher
from bot.publishers.mastodon_api import MastodonApi
from bot.publishers.mastodon_text import (
    MastodonLimits,
    compose_status,
    html_to_text,
    limits_from_instance,
    status_length,
)
from bot.publishers.ratelimit import retry_after_from_headers

FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
BOT_TOKEN = "dreambot_token"  # mock credentials, not secrets
SEED = SeedConfig(
    accounts=[
        SeedAccount(username="dreambot", display_name="Lucid Dream Bot", access_token=BOT_TOKEN),
        SeedAccount(username="admin", access_token="admin_token"),
    ]
)
INSTANCE_PATH = r"^/api/v2/instance/?$"


server, mock = mastodon_mock_fixtures(SEED)


@pytest.fixture
def image_path(tmp_path):
    rng = np.random.default_rng(7)
    path = tmp_path / "dream.png"
    Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(path)
    return path


def make_post(image_path, post_id="post-1", caption=None, **kw):
    return Post(
        post_id=post_id,
        image_path=image_path,
        caption=caption
        or "goldfish × great white shark\nPhoto: “Harbour” by Ann (CC BY 2.0) https://example.org/photo/1",
        alt_text=kw.pop("alt_text", "A harbour photo with goldfish scales and shark fins dreamt into the water."),
        tags=kw.pop("tags", ("deepdream", "machine made")),
        **kw,
    )


def add_fault(srv, path=None, path_regex=None, methods=None, count=1, **effect):
    rule = {"match": {"methods": methods, "path": path, "path_regex": path_regex}, "effect": effect, "count": count}
    resp = requests.post(f"{srv.base_url}/api/v1/_mock/faults", json=rule, timeout=10)
    resp.raise_for_status()
    return resp.json()["id"]


def faults_left(srv):
    return requests.get(f"{srv.base_url}/api/v1/_mock/faults", timeout=10).json()


def serve_instance(srv, **changes):
    """Make /api/v2/instance answer the mock's own body with configuration changes."""
    body = requests.get(f"{srv.base_url}/api/v2/instance", timeout=10).json()
    body = copy.deepcopy(body)
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        body["configuration"][section][key] = value
    add_fault(srv, path_regex=INSTANCE_PATH, methods=["GET"], count=None, type="status", status=200, body=body)


def client_for(srv, username):
    client = srv.client(username)
    client.ratelimit_method = "throw"  # Mastodon.py's default would sleep through a test
    return client


def bot_statuses(srv, viewer="dreambot"):
    client = client_for(srv, viewer)
    bot = client.account_lookup("dreambot")
    return list(client.account_statuses(bot["id"], limit=40))


def publisher(srv, token=BOT_TOKEN, *, timeout=30.0, processing_wait=60.0, **kw):
    return MastodonPublisher(MastodonApi(srv.base_url, token, timeout=timeout, processing_wait=processing_wait), **kw)


# --- the happy path -----------------------------------------------------------------------


def test_publish_posts_status_with_image_alt_text_and_bot_flag(mock, image_path):
    client = client_for(mock, "dreambot")
    assert not client.me()["bot"]
    post = make_post(image_path)

    published = publisher(mock, language="en", spoiler_text="AI art").publish(post)

    statuses = bot_statuses(mock)
    assert [str(s["id"]) for s in statuses] == [published.remote_id]
    status = statuses[0]
    assert published.url == status["url"]
    text = html_to_text(status["content"])
    assert text.startswith("goldfish × great white shark")
    assert "https://example.org/photo/1" in text
    assert contains_ref(text, post_ref(post.post_id))
    assert text.splitlines()[-1] == "#deepdream #MachineMade"
    assert status["visibility"] == "public"
    assert status["language"] == "en"
    assert status["spoiler_text"] == "AI art"
    [media] = status["media_attachments"]
    assert media["type"] == "image"
    assert media["description"] == post.alt_text
    uploaded = requests.get(media["url"], timeout=10).content
    assert Image.open(io.BytesIO(uploaded)).size == (160, 120)
    assert client.me()["bot"] is True


def test_publishing_twice_with_same_post_id_makes_one_status(mock, image_path):
    post = make_post(image_path)
    first = publisher(mock).publish(post)
    second = publisher(mock).publish(post)  # a fresh process retrying: same idempotency key
    assert second.remote_id == first.remote_id
    assert len(bot_statuses(mock)) == 1


def test_find_existing_finds_an_earlier_post_beyond_the_first_page(mock, image_path):
    target = make_post(image_path, post_id="crashed-before-confirm")
    made = publisher(mock).publish(target)
    client = client_for(mock, "dreambot")
    for i in range(45):  # push it off the first page of 40
        client.status_post(f"filler {i}")

    fresh = publisher(mock)  # no state from the publishing instance
    found = fresh.find_existing(target)
    assert found is not None and found.remote_id == made.remote_id
    assert fresh.find_existing(make_post(image_path, post_id="never-posted")) is None


def test_send_direct_makes_a_direct_status_to_the_admin(mock):
    publisher(mock).send_direct("@admin", "The bot failed 3 times in a row: Tumblr rejected the credentials.")
    [status] = bot_statuses(mock)
    assert status["visibility"] == "direct"
    assert [m["acct"] for m in status["mentions"]] == ["admin"]
    admin = client_for(mock, "admin")
    conversations = admin.conversations()
    assert any("rejected the credentials" in c["last_status"]["content"] for c in conversations)


# --- limits from /api/v2/instance ---------------------------------------------------------


def test_small_max_characters_truncates_caption_but_keeps_hashtags_and_ref(mock, image_path):
    serve_instance(mock, statuses__max_characters=160)
    caption = "goldfish × great white shark. " + "A long credit line about the source photo. " * 10
    post = make_post(image_path, caption=caption.strip())

    publisher(mock).publish(post)

    [status] = bot_statuses(mock)
    text = html_to_text(status["content"])
    assert status_length(text) <= 160
    assert text.startswith("goldfish × great white shark.")
    assert "…" in text
    assert contains_ref(text, post_ref(post.post_id))
    assert text.endswith("#deepdream #MachineMade")


def test_image_and_alt_text_are_fitted_to_the_server_limits(mock, image_path):
    serve_instance(
        mock,
        media_attachments__image_matrix_limit=4000,
        media_attachments__image_size_limit=6000,
        media_attachments__supported_mime_types=["image/jpeg"],
        media_attachments__description_limit=60,
    )
    post = make_post(image_path, alt_text="A harbour photo " + "with more and more detail " * 10)

    publisher(mock).publish(post)

    [media] = bot_statuses(mock)[0]["media_attachments"]
    data = requests.get(media["url"], timeout=10).content
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert len(data) <= 6000
    assert image.width * image.height <= 4000
    assert len(media["description"]) <= 60
    assert media["description"].startswith("A harbour photo with more")
    assert media["description"].endswith("…")


def test_limits_from_real_mastodon_social_instance_body():
    body = json.loads((FIXTURES / "instance_v2_mastodon_social_4_5.json").read_text())
    limits = limits_from_instance(body)
    assert limits.max_characters == 500
    assert limits.max_media_attachments == 4
    assert limits.characters_reserved_per_url == 23
    assert limits.description_limit == 1500
    assert limits.image_size_limit == 16777216
    assert limits.image_matrix_limit == 33177600
    assert {"image/jpeg", "image/png", "image/webp"} <= set(limits.supported_mime_types)


def test_limits_fall_back_when_description_limit_is_missing_or_null():
    old = json.loads((FIXTURES / "instance_v2_mastodon_social_4_0.json").read_text())
    assert "description_limit" not in old["configuration"]["media_attachments"]
    limits = limits_from_instance(old)
    assert limits.description_limit == 1500
    assert (limits.image_size_limit, limits.image_matrix_limit) == (10485760, 16777216)

    nulled = copy.deepcopy(old)
    nulled["configuration"]["media_attachments"]["description_limit"] = None
    nulled["configuration"]["statuses"]["max_characters"] = "lots"
    assert limits_from_instance(nulled).description_limit == 1500
    assert limits_from_instance(nulled).max_characters == 500
    assert limits_from_instance({}) == MastodonLimits()


def test_status_length_counts_links_as_reserved_characters():
    body = json.loads((FIXTURES / "instance_v2_mastodon_social_4_5.json").read_text())
    limits = limits_from_instance(body)
    long_url = "https://example.org/" + "x" * 200
    assert status_length(f"see {long_url}.", limits.characters_reserved_per_url) == len("see .") + 23
    post = Post(
        post_id="p", image_path=Path("unused"), caption=f"credit {long_url}\n" + "word " * 150, alt_text="a"
    )
    text = compose_status(post, limits)
    assert len(text) > limits.max_characters  # the raw text is longer...
    assert status_length(text) <= limits.max_characters  # ...but the server counts the link as 23


def test_html_to_text_on_real_status_bodies():
    cats = json.loads((FIXTURES / "status_with_hashtags_chaos_social.json").read_text())
    text = html_to_text(cats["content"])
    assert text.splitlines()[0] == "Caught on the hop. 😺"
    assert "#Qualitätskatzen #cats" in text
    assert "(photo: @kernpanik | license: CC BY-NC-SA 4.0)" in text.splitlines()
    link = json.loads((FIXTURES / "status_gargron_link.json").read_text())
    text = html_to_text(link["content"])
    assert text.startswith('"I lost my inheritance')
    assert "https://www.theguardian.com/money/2019/dec/07/i-lost-my-193000-inheritance" in text
    assert not contains_ref(text, post_ref("anything"))


# --- failures -----------------------------------------------------------------------------


def test_bad_token_is_permanent_and_says_so(mock, image_path):
    with pytest.raises(PublishError) as err:
        publisher(mock, "not-a-real-token").publish(make_post(image_path))
    assert err.value.transient is False
    assert "401" in str(err.value) and "access token" in str(err.value)
    assert "not-a-real-token" not in str(err.value)


def test_forbidden_scope_is_permanent(mock, image_path):
    add_fault(
        mock, path="/api/v2/media", methods=["POST"], type="status", status=403,
        body={"error": "This action is outside the authorized scopes"},
    )
    with pytest.raises(PublishError) as err:
        publisher(mock).publish(make_post(image_path))
    assert err.value.transient is False
    assert "403" in str(err.value) and "scopes" in str(err.value)


def test_server_error_is_transient_and_a_retry_posts_once(mock, image_path):
    add_fault(mock, path="/api/v1/statuses", methods=["POST"], type="status", status=503)
    post = make_post(image_path)
    pub = publisher(mock)
    with pytest.raises(PublishError) as err:
        pub.publish(post)
    assert err.value.transient is True
    assert "503" in str(err.value)
    assert bot_statuses(mock) == []
    pub.publish(post)
    assert len(bot_statuses(mock)) == 1


def test_rate_limited_429_is_transient_with_retry_after(mock, image_path):
    add_fault(mock, path="/api/v1/statuses", methods=["POST"], type="ratelimit", headers={"Retry-After": "120"})
    with pytest.raises(PublishError) as err:
        publisher(mock).publish(make_post(image_path))
    assert err.value.transient is True
    assert err.value.retry_after == 120
    assert "429" in str(err.value)


def test_media_rate_limit_headers_stop_further_uploads(mock, image_path):
    # Real Mastodon sends X-RateLimit-Reset as an ISO 8601 time and no Retry-After.
    reset = (datetime.now(timezone.utc) + timedelta(minutes=15)).isoformat()
    add_fault(
        mock, path="/api/v2/media", methods=["POST"], type="status", status=429,
        body={"error": "Too many requests"},
        headers={"X-RateLimit-Limit": "30", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
    )
    pub = publisher(mock)
    with pytest.raises(PublishError) as err:
        pub.publish(make_post(image_path))
    assert err.value.transient is True
    assert 880 <= err.value.retry_after <= 902  # Date has 1 s resolution
    assert faults_left(mock) == []  # the fault fired once; the server would now accept uploads

    with pytest.raises(PublishError) as again:
        pub.publish(make_post(image_path))
    assert again.value.transient is True
    assert "not trying to upload" in str(again.value)  # refused locally, server not asked
    assert 0 < again.value.retry_after <= 902
    assert bot_statuses(mock) == []


def test_two_threads_on_one_api_keep_their_own_bucket_and_answer(mock, image_path):
    """Issue 29: what a call is doing (its rate-limit bucket, its last answer) belongs to the
    call, not to the MastodonApi. While an upload's 429 (the media limit's headers) is in hand,
    other threads make ordinary calls on the same instance, one before the API reads the answer
    and one after. The upload is still counted against the media bucket alone, and its error
    is still read from its own answer (the server's 15 minutes, not a 60 s guess)."""
    reset = (datetime.now(timezone.utc) + timedelta(minutes=15)).isoformat()
    add_fault(
        mock, path="/api/v2/media", methods=["POST"], type="status", status=429,
        body={"error": "Too many requests"},
        headers={"X-RateLimit-Limit": "30", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
    )
    api = MastodonApi(mock.base_url, BOT_TOKEN)
    api.limits()
    others: list[str] = []

    def another_thread_calls(response, *args, **kwargs):
        if response.request.method == "POST" and response.request.path_url.startswith("/api/v2/media"):
            t = threading.Thread(target=lambda: others.append(api.verify_credentials()["username"]))
            t.start()
            t.join(60)

    hooks = api.transport.session.hooks["response"]  # the API's own hook sits between these two
    hooks.insert(0, another_thread_calls)
    hooks.append(another_thread_calls)
    with pytest.raises(PublishError) as err:
        api.upload_image(image_path, "alt")
    assert others == ["dreambot", "dreambot"]
    assert err.value.transient is True and 880 <= err.value.retry_after <= 902
    assert api.rate_wait(media=False) == 0  # ordinary calls may go on
    assert 880 <= api.rate_wait(media=True) <= 902  # uploads wait


def test_pacing_stops_before_the_server_answers_429(image_path):
    config = MastodonMockConfig(
        database=DatabaseConfig(path=":memory:"),
        seed=SEED,
        ratelimit=RateLimitConfig(enabled=True, limit=14, window_seconds=1800),
    )
    with MockServer(config=config) as srv:
        pub = publisher(srv)
        made = 0
        with pytest.raises(PublishError) as err:
            for i in range(20):
                pub.publish(make_post(image_path, post_id=f"p{i}"))
                made += 1
        assert "not trying to" in str(err.value)  # our budget, not a 429 from the server
        assert err.value.transient is True
        assert 0 < err.value.retry_after <= 1800
        assert made >= 1
        assert len(bot_statuses(srv, viewer="admin")) == made  # the bot's budget is spent


def test_timeout_is_transient(mock, image_path):
    # Unanswered for 20 s, inside the default 30 s timeout: without the 0.5 s timeout the call
    # would succeed late instead. (No test waits for it: the client gives up at 0.5 s.)
    add_fault(mock, path_regex=INSTANCE_PATH, methods=["GET"], type="latency", delay_ms=20_000)
    with pytest.raises(PublishError) as err:
        publisher(mock, timeout=0.5).publish(make_post(image_path))
    assert err.value.transient is True
    assert "no answer within 0.5s" in str(err.value)


def test_malformed_json_is_transient(mock, image_path):
    add_fault(mock, path="/api/v1/statuses", methods=["POST"], type="malformed")
    with pytest.raises(PublishError) as err:
        publisher(mock).publish(make_post(image_path))
    assert err.value.transient is True
    assert "not valid JSON" in str(err.value) and "HTTP 200" in str(err.value)


def test_unprocessable_is_permanent_with_the_server_text(mock, image_path):
    # The server advertises more than it accepts: our text fits 5000 but the mock's
    # write path still enforces 500 and answers 422 like a real server would.
    serve_instance(mock, statuses__max_characters=5000)
    post = make_post(image_path, caption="A long caption. " * 60)
    with pytest.raises(PublishError) as err:
        publisher(mock).publish(post)
    assert err.value.transient is False
    assert "422" in str(err.value)
    assert "Text is too long" in str(err.value)


# --- bounded wait for media processing ----------------------------------------------------


def _processing_faults(srv, image_path, alt_text, polls):
    """Make the upload answer 202 with url null and the next `polls` checks answer 206,
    as a real server does while it converts the image (the mock processes instantly)."""
    media = srv.client("dreambot").media_post(
        image_path.read_bytes(), mime_type="image/png", description=alt_text
    )
    pending = {"id": str(media["id"]), "type": "image", "url": None, "preview_url": media["preview_url"],
               "description": alt_text, "meta": {}, "blurhash": None}
    add_fault(srv, path="/api/v2/media", methods=["POST"], type="status", status=202, body=pending)
    add_fault(srv, path=f"/api/v1/media/{media['id']}", methods=["GET"], type="status", status=206,
              body=pending, count=polls)
    return str(media["id"])


def test_waits_for_media_processing_before_posting(mock, image_path):
    post = make_post(image_path)
    media_id = _processing_faults(mock, image_path, post.alt_text, polls=2)
    publisher(mock, processing_wait=20).publish(post)
    assert faults_left(mock) == []  # both "still processing" answers were consumed
    [status] = bot_statuses(mock)
    assert [str(m["id"]) for m in status["media_attachments"]] == [media_id]


def test_media_processing_wait_is_bounded(mock, image_path):
    post = make_post(image_path)
    _processing_faults(mock, image_path, post.alt_text, polls=None)
    # Still processing for ever: an unbounded wait would never return (given 120 s, not timed).
    outcome: list[BaseException] = []

    def publish() -> None:
        try:
            publisher(mock, processing_wait=1.5).publish(post)
        except BaseException as exc:  # noqa: BLE001  (handed to the test's thread)
            outcome.append(exc)

    t = threading.Thread(target=publish, daemon=True)
    t.start()
    t.join(120)
    assert not t.is_alive(), "the processing wait is not bounded"
    with pytest.raises(PublishError) as err:
        raise outcome[0]
    assert err.value.transient is True
    assert "processing" in str(err.value)
    assert bot_statuses(mock) == []


def test_retry_after_header_forms():
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    assert retry_after_from_headers({"Retry-After": "30"}) == 30
    assert retry_after_from_headers({"Retry-After": "Wed, 21 Oct 2026 07:30:00 GMT", "Date": date}) == 120
    assert retry_after_from_headers({"X-RateLimit-Reset": "2026-10-21T07:33:00.000Z", "Date": date}) == 300
    assert retry_after_from_headers({}, default=None) is None


# --- dives: video upload (issue 16) ---------------------------------------------------------


def _dive(tmp_path, fps=10, size=(64, 48), n=10):
    from dreamer.video import VideoWriter, poster

    video = tmp_path / "dive.mp4"
    with VideoWriter(video, "mp4", size, fps, {"comment": "lucid-dream:{}"}) as w:
        for i in range(n):
            frame = np.zeros((size[1], size[0], 3), np.uint8)
            frame[:, (i * 5) % size[0]:(i * 5) % size[0] + 6] = 255
            w.write(frame)
    still = tmp_path / "dive.png"
    poster(video).save(still)
    return video, still


def test_a_dive_is_posted_as_a_video_with_alt_text_and_its_poster(mock, tmp_path):
    video, still = _dive(tmp_path)
    post = make_post(still, video_path=video, alt_text="Video, 1 seconds, zooming slowly into a dream.")
    published = publisher(mock).publish(post)
    [status] = bot_statuses(mock)
    assert str(status["id"]) == published.remote_id
    [media] = status["media_attachments"]
    assert media["type"] == "video" and media["description"] == post.alt_text
    got = requests.get(media["url"], timeout=10).content
    assert got == video.read_bytes()  # within the mock's limits: uploaded as made, not re-encoded


def test_a_dive_over_the_servers_video_limits_is_reencoded_to_fit(mock, tmp_path):
    from dreamer.video import probe

    video, still = _dive(tmp_path, fps=30, size=(128, 96), n=30)
    serve_instance(mock, media_attachments__video_frame_rate_limit=15,
                   media_attachments__video_matrix_limit=64 * 48)
    publisher(mock).publish(make_post(still, video_path=video))
    [status] = bot_statuses(mock)
    [media] = status["media_attachments"]
    sent = tmp_path / "sent.mp4"
    sent.write_bytes(requests.get(media["url"], timeout=10).content)
    info = probe(sent)
    assert float(info.fps) <= 15 and info.width * info.height <= 64 * 48
    assert info.frames == 15  # every other frame: the same two seconds


def test_a_video_still_processing_keeps_the_post_pending(mock, tmp_path):
    video, still = _dive(tmp_path)
    post = make_post(still, video_path=video)
    media = mock.client("dreambot").media_post(video.read_bytes(), mime_type="video/mp4", description=post.alt_text)
    pending = {"id": str(media["id"]), "type": "video", "url": None, "preview_url": None,
               "description": post.alt_text, "meta": {}, "blurhash": None}
    add_fault(mock, path="/api/v2/media", methods=["POST"], type="status", status=202, body=pending)
    add_fault(mock, path=f"/api/v1/media/{media['id']}", methods=["GET"], type="status", status=206,
              body=pending, count=None)
    with pytest.raises(PublishError) as err:
        publisher(mock, processing_wait=1.0).publish(post)
    assert err.value.transient and "processing the uploaded video" in str(err.value)
    assert bot_statuses(mock) == []  # never posted without its video
