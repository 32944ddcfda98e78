"""Named points where a test kills the bot, as an out-of-memory kill or a power cut would:
with LUCID_TEST_KILL_AT=dream,upload in its environment, a bot process sends itself SIGKILL
on reaching `hit("dream")` or `hit("upload")`. Without the variable, `hit` does nothing."""
from __future__ import annotations

import os
import signal

ENV = "LUCID_TEST_KILL_AT"
# the points the code has: a cycle's dream, between recording it and filing its photo, after
# the image upload (Mastodon) or before the one request that carries it (Tumblr), after the
# post (or a request's reply) is made, a worker's render, a worker that took a task but wrote
# no lease yet; a poll drawn but not sent, a poll posted but its answer not recorded, a poll's
# winner recorded but not dreamt yet
POINTS = ("dream", "recorded", "upload", "posted", "render", "taken", "poll", "polled", "closed")


def hit(name: str) -> None:
    if name in os.environ.get(ENV, "").split(","):
        os.kill(os.getpid(), signal.SIGKILL)
