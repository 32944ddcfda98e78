"""What a dream request asks for: its classes (checked against the picker's deny list, with
"surprise me" drawn from the picker's pool) and its image (attached, or on the requester's
own post it replies to), downloaded within the fetch limits and checked before any dream."""
from __future__ import annotations

import io
import logging
import random
import warnings
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple

from bot.picker import human_name, pool
from bot.picker import labels as picker_labels
from bot.publishers.base import PublishError
from bot.sources.fetch import FetchError, FetchPolicy, RefusedAddress, fetch

from .replies import Refusal, unreadable

if TYPE_CHECKING:
    from PIL import Image

    from bot.config.sections import PickerSection
    from bot.config.services import RequestsSection

    from .client import RequestsClient
    from .parse import ParsedRequest

IMAGE_TYPES = ("image",)
# Mastodon files an animated GIF as "gifv": its `url` is a video made of it, its `preview_url`
# a still of the first frame, which is what can be dreamt.
ANIMATION_TYPES = ("gifv",)
log = logging.getLogger("bot.requests")


class Refuse(Exception):
    """This request gets a refusal reply; `kind` picks the text (see replies.refusal_text)."""

    def __init__(self, kind: Refusal, **details: Any):
        super().__init__(kind)
        self.kind = kind
        self.details = details


def classes(picker: "PickerSection", parsed: "ParsedRequest",
            rng: random.Random) -> tuple[list[str], tuple[list[str], list[float]]]:
    """(human names, (class terms, weights)) for a parsed request: never a class the picker
    denies; "surprise me" drawn from the picker's pool."""
    lab = labels()
    denied = set()
    for term in picker.deny:
        denied.update(lab.resolve(term))
    for w in parsed.wishes:
        if w.class_id in denied:
            raise Refuse(Refusal.DENIED, term=w.name)
    ids = [w.class_id for w in parsed.wishes]
    weights = [w.weight for w in parsed.wishes]
    if parsed.random_count:
        choices = [i for i in pool(picker, lab) if i not in ids]
        picked = rng.sample(choices, min(parsed.random_count, len(choices)))
        ids += picked
        weights += [1.0] * len(picked)
    names = [human_name(i, lab) for i in ids]
    return names, ([str(i) for i in ids], weights)


class Attached(NamedTuple):
    """The picture a request is to be dreamt from: where it is, and whether it was an animation
    (the reply says only its first frame was dreamt)."""

    url: str
    animated: bool = False


def image_url(rq: "RequestsSection", client: "RequestsClient", status: Mapping[str, Any]) -> Attached:
    """The request's own image, or the one on the post it replies to when that may be used."""
    found = first_image(status)
    if found:
        return found
    parent_id = status.get("in_reply_to_id")
    if parent_id:
        parent = client.status(str(parent_id))
        if parent is not None:
            own = str((parent.get("account") or {}).get("id")) == str((status.get("account") or {}).get("id"))
            public_ok = rq.allow_others_public_posts and parent.get("visibility") == "public"
            if own or public_ok:
                found = first_image(parent)
                if found:
                    return found
    raise Refuse(Refusal.NO_IMAGE)


def load(policy: FetchPolicy, max_pixels: int, url: str) -> "Image.Image":
    """The request's picture (at most `max_pixels`), or Refuse (too big, not a picture);
    PublishError when the download failed in a way a retry may fix."""
    from PIL import Image

    try:
        got = fetch(url, policy)
    except FetchError as exc:
        if "fetch.max_bytes" in str(exc):
            raise Refuse(Refusal.TOO_BIG, detail=f"more than {policy.max_bytes // 1_000_000} MB") from None
        if exc.permanent:  # the reason, URL and all, is for the operator's log only
            log.warning("request image not downloaded, refused: %s", exc)
        # Never the URL in the reply: it is the requester's (or their server's) to choose.
        if isinstance(exc, RefusedAddress):
            raise Refuse(Refusal.BAD_IMAGE, detail="it is at an address I cannot download from") from None
        if exc.permanent:
            raise Refuse(Refusal.BAD_IMAGE, detail="its server would not give it to me (was it deleted?)") from None
        raise PublishError(f"could not download the request's image: {exc}", transient=True) from None
    try:
        with warnings.catch_warnings():  # the size is checked just below, against our own limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(got.data)) as probe:
                w, h = probe.size
    except Image.DecompressionBombError:  # Pillow's own hard limit, far past ours: a bomb, not junk
        raise Refuse(Refusal.TOO_BIG, detail=f"far more pixels than the {max_pixels:,} I can take") from None
    except Exception:
        raise _unreadable(got.data, max_pixels) from None
    if w * h > max_pixels:
        raise Refuse(Refusal.TOO_BIG, detail=f"{w}×{h} pixels; at most {max_pixels:,}")
    import dreamer

    try:
        dreamer.check_shape(w, h, what="it")  # the engine's limit on thin strips
    except dreamer.ImageError as exc:
        raise Refuse(Refusal.BAD_IMAGE, detail=str(exc)) from None
    try:
        return dreamer.load_image(got.data, name="your image",
                                  bomb_pixels=max(max_pixels, 1))
    except dreamer.ImageError as exc:
        raise Refuse(Refusal.BAD_IMAGE, **unreadable(exc.reason)) from None


def _unreadable(data: bytes, max_pixels: int) -> Refuse:
    """The refusal for a file Pillow could not even open, with the loader's reason (an iPhone
    HEIC photo, a web page, a file cut short...): the sender learns what to send instead."""
    import dreamer

    try:
        dreamer.load_image(data, name="your image", bomb_pixels=max(max_pixels, 1))
    except dreamer.ImageError as exc:
        return Refuse(Refusal.BAD_IMAGE, **unreadable(exc.reason))
    return Refuse(Refusal.BAD_IMAGE, **unreadable(""))  # the loader read it: cannot happen, but no crash


def dreamt_frame(attached: Attached, image: "Image.Image") -> int | None:
    """The index of the frame of an animation the picture dreamt was (an animated GIF, WebP or
    PNG: the frame load_image took; a "gifv": the still Mastodon made of its first frame), None
    for a still picture."""
    from dreamer.image_io import animation_frame

    frame = animation_frame(image)
    return 0 if frame is None and attached.animated else frame


def first_image(status: Mapping[str, Any]) -> Attached | None:
    """The first picture attached to `status`: an image, or the still of an animated GIF."""
    for m in status.get("media_attachments") or []:
        if not isinstance(m, Mapping):
            continue
        if m.get("type") in IMAGE_TYPES and m.get("url"):
            return Attached(str(m["url"]))
        still = m.get("preview_url")  # its `url` is an MP4: no still yet (a remote GIF not cached), no picture
        if m.get("type") in ANIMATION_TYPES and still:
            return Attached(str(still), animated=True)
    return None


def labels():
    return picker_labels()
