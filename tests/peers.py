"""The real peers the tests talk to. A missing peer fails its tests rather than skipping them:
a green run must mean the gallery was opened in Chromium and the queue ran on Redis.
(A developer without them can opt out with LUCID_ALLOW_MISSING_PEERS=1; CI never sets it.)"""
from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REDIS = shutil.which("redis-server")
INSTALL = {"chromium": "apt-get install -y chromium", "redis-server": "apt-get install -y redis-server"}


def require(name: str, path: str | None) -> str:
    """The peer's executable, or a failure (a skip only when the developer opted out)."""
    if path:
        return path
    why = f"{name} is needed for this test and is not installed ({INSTALL.get(name, 'see .ci/run')})"
    if os.environ.get("LUCID_ALLOW_MISSING_PEERS") == "1":
        pytest.skip(why)
    pytest.fail(why)
