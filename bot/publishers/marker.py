"""The short reference that lets a publisher recognise its own post after a crash.

Idempotency keys do not cover every case (Mastodon keeps them about an hour, Tumblr has
none), so every post carries a short, stable token derived from the store's post id:
`ref-` and ten hex digits of its SHA-256. It is unobtrusive (one short line at the end of a
Mastodon status, one tag on Tumblr), says nothing about the bot's internals, and is unique
enough that finding it among the bot's recent posts means "this post_id was published".
The operator can search for it on the platform to find the post for a store entry.
"""
from __future__ import annotations

import hashlib
import re


def post_ref(post_id: str) -> str:
    """The visible reference for a post, e.g. 'ref-3f9a0c51d2'."""
    return "ref-" + hashlib.sha256(f"lucid-dream-bot:{post_id}".encode()).hexdigest()[:10]


def contains_ref(text: str, ref: str) -> bool:
    """Whether `ref` occurs in text as a whole token (not inside a longer word)."""
    return re.search(rf"(?<![\w-]){re.escape(ref)}(?![\w-])", text) is not None
