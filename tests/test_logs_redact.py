"""What `logs.redact` masks in a log line, and what it leaves alone."""
import io
import json

import pytest

from bot import logs


@pytest.mark.parametrize("text, masked", [
    # a password with an "@" in it: only the part after the first "@" was masked, and "ss@host"
    # showed the rest of it ("https://[secret]@ss@host/x.jpg")
    ("cannot fetch https://me:p@ss@host/x.jpg: 404", "cannot fetch https://[secret]@host/x.jpg: 404"),
    ("https://me:p@ss@host?x=1", "https://[secret]@host?x=1"),
    ("https://me:p@ss@host#a", "https://[secret]@host#a"),
    ("https://me:p@ss@host other@thing", "https://[secret]@host other@thing"),
    ("https://me:pw@host/x and https://jo:a@b@other/y", "https://[secret]@host/x and https://[secret]@other/y"),
    # the same address in a JSON text (a server's error body echoed): its slashes escaped
    (r'{"url": "https:\/\/me:pw@host\/x.jpg"}', r'{"url": "https:\/\/[secret]@host\/x.jpg"}'),
    (r'{"url": "https:\/\/me:p@ss@host\/x.jpg"}', r'{"url": "https:\/\/[secret]@host\/x.jpg"}'),
])
def test_the_whole_user_name_and_password_of_an_address_are_masked(text, masked):
    assert logs.redact(text) == masked
    assert "ss@" not in logs.redact(text).replace("[secret]", "")


@pytest.mark.parametrize("text", [
    "https://host/@jo/1",  # an "@" in the path (a Mastodon account), no credentials
    r"https:\/\/host\/@jo\/1",
    "https://host?who=@jo",
    "write to mailto:jo@example.com or jo@example.com",
])
def test_an_at_sign_that_is_no_password_is_left_alone(text):
    assert logs.redact(text) == text


def test_a_json_log_line_masks_the_whole_password():
    stream = io.StringIO()
    handler = logs.setup("json", level="INFO", stream=stream)
    try:
        import logging

        logging.getLogger("bot.test").warning("cannot fetch %s", "https://me:p@ss@host/x.jpg")
    finally:
        logging.getLogger().removeHandler(handler)
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["message"] == "cannot fetch https://[secret]@host/x.jpg"
