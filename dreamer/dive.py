"""Dive videos: a dream on every K-th frame (a keyframe), a continuous glide between them.

The camera moves every frame (zoom and turn about the centre, `recipe.video.zoom` and `.rotate`
per frame at cruising speed, optionally easing in and out). Keyframe j+1 is keyframe j carried
along by the camera to its own frame, then dreamt again (a fresh seed each, so the detail keeps
growing). The frames between show keyframe j carried along by the camera, with keyframe j+1's
new detail faded in as the camera reaches it (keyframe j+1 seen zoomed back out to the frame's
camera). The glide is what the original dream.py's zoom did between frames, and the fade keeps
the dream's additions from popping in every K frames.

Same guarantees as pictures: the recipe and these settings travel in the video's metadata and
in a sidecar; keyframes are kept as PNGs in `<video>.parts/` while the dive is made, so a dive
killed at any point resumes at its last keyframe and gives the very frames an uninterrupted run
gives (the frames between are recomputed from the keyframes, which costs no dreaming); frames
are streamed to the encoder, so memory holds two keyframes whatever the length.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from PIL import Image

from dreamer.image_io import check_sidecar
from dreamer.recipe import Recipe
from dreamer.activations import Progress
from dreamer.render import dream
from dreamer.shape import check_shape
from dreamer.transform import to_image, to_tensor, zoom_rotate
from dreamer.video import VideoWriter, check_video_path, even_size, recipe_metadata

# A dive's own recipe defaults, beneath a preset, a recipe file and flags. Sized so a CPU-only
# bot makes one in well under an hour (benchmarks/dive.py): 6 s at 24 fps, 25 keyframes of 40
# steps each (a keyframe builds on the last, so each needs fewer steps than a picture's 128);
# the camera zooms 1.27x a second at cruise and turns 2.4 degrees a second.
DIVE_RECIPE: dict[str, Any] = {"frames": 144, "zoom": 1.01, "rotate": 0.1, "steps": 40}
KILL_ENV = "LUCID_TEST_KILL_AT"  # the bot's failpoint variable: "dive:3" kills after keyframe 3


class DiveError(ValueError):
    """A dive's settings are out of range or its parts folder belongs to another dive."""


@dataclass(frozen=True)
class DiveSettings:
    """How a dive is filmed (the recipe says what is dreamt, how many frames and the camera's
    zoom and turn per frame)."""

    fps: int = 24
    glide: int = 6  # a dream every `glide` frames; 1 dreams every frame
    ease: float = 0.15  # fraction of the dive spent speeding up, and again slowing down
    size: int = 480  # long side of the video in pixels (never enlarges the photo)

    def validate(self) -> None:
        checks = (
            (_int(self.fps) and 1 <= self.fps <= 60, "fps", "must be an integer 1..60"),
            (_int(self.glide) and 1 <= self.glide <= 100, "glide", "must be an integer 1..100"),
            (isinstance(self.ease, (int, float)) and 0 <= self.ease <= 0.5, "ease", "must be 0..0.5"),
            (_int(self.size) and 32 <= self.size <= 4096, "size", "must be an integer 32..4096 pixels"),
        )
        for ok, key, what in checks:
            if not ok:
                raise DiveError(f"dive: {key} = {getattr(self, key)!r}: {what}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DiveSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DiveError(f"dive: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
        out = cls(**data)
        out.validate()
        return out


@dataclass(frozen=True)
class DiveProgress:
    frame: int  # frames written so far
    frames: int
    key: int  # the keyframe being dreamt (0-based)
    keys: int
    dream: Progress | None  # the dream's own step, None while frames are written


@dataclass(frozen=True)
class DiveResult:
    path: Path
    frames: int
    fps: int
    size: tuple[int, int]
    keys: int
    dreamt: int  # keyframes dreamt by this call (the rest came from the parts folder)
    resumed_at: int  # first frame whose keyframe was dreamt by this call (0: a fresh dive)


# --- the camera -----------------------------------------------------------------------------


def camera(n: float, frames: int, ease: float) -> float:
    """How far the camera has travelled by frame n, in frames at cruising speed. With ease, the
    speed rises from 0 along half a cosine over the first ease*(frames-1) frames, and falls
    alike at the end: no jolt at the start or the stop."""
    length = frames - 1
    ramp = ease * length
    if ramp <= 0:
        return float(n)

    def rising(x: float) -> float:
        return x / 2 - ramp / (2 * math.pi) * math.sin(math.pi * x / ramp)

    if n <= ramp:
        return rising(n)
    if n >= length - ramp:
        return (length - ramp) - rising(length - n)
    return ramp / 2 + (n - ramp)


def keyframes(frames: int, glide: int) -> list[int]:
    """Frames that are dreamt: every glide-th, and the last (so the dive ends on a dream)."""
    return sorted(set(range(0, frames, glide)) | {frames - 1})


def edge_weight(height: int, width: int, zoom: float, degrees: float) -> torch.Tensor:
    """(1, 1, H, W): how much of zoom_rotate(x, zoom, degrees) to show over another picture: 0
    where it would show a reflection (outside x), rising to 1 inside x's edge over a band as
    wide as the overhang. The band shrinks with the overhang, to nothing at zoom 1 and no turn,
    so the weight changes smoothly from frame to frame and is 1 everywhere on the keyframe."""
    a = math.radians(degrees)
    cos, sin = math.cos(a) / zoom, math.sin(a) / zoom
    theta = torch.tensor([[cos, -sin * height / width, 0.0], [sin * width / height, cos, 0.0]]).unsqueeze(0)
    grid = F.affine_grid(theta, [1, 1, height, width], align_corners=False)
    inside = 1 - grid.abs().amax(dim=-1)  # 0 at x's edge, negative beyond
    band = max(1e-6, 2 * (1 / zoom - 1) + abs(a))
    return (inside / band).clamp(0, 1).unsqueeze(1)


def between(a: torch.Tensor, b: torch.Tensor, t: float, from_a: float, to_b: float,
            zoom: float, degrees: float) -> torch.Tensor:
    """A frame between keyframes a and b: `from_a` frames of camera travel after a, `to_b`
    before b; b's detail faded in by t."""
    za, zb = zoom ** from_a, zoom ** -to_b
    glide = zoom_rotate(a, za, degrees * from_a)
    if t <= 0:
        return glide
    ahead = zoom_rotate(b, zb, -degrees * to_b)
    w = t * edge_weight(a.shape[-2], a.shape[-1], zb, -degrees * to_b)
    return glide + w * (ahead - glide)


# --- the dive ---------------------------------------------------------------------------------


def parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def key_path(parts: Path, frame: int) -> Path:
    return parts / f"key_{frame:05d}.png"


def dive_video(
    image: Image.Image,
    recipe: Recipe,
    out: str | Path,
    settings: DiveSettings = DiveSettings(),
    *,
    info: dict[str, Any] | None = None,
    progress: Callable[[DiveProgress], None] | None = None,
    device: str | None = None,
    net: Any = None,
) -> DiveResult:
    """Make a dive of recipe.video.frames frames from `image` into the video `out` (.mp4 or .webm).
    If `out`'s parts folder holds keyframes of this same dive (recipe, settings and photo), they
    are used and the dive resumes after the last; one of another dive is an error (DiveError).
    `info` (class names, the photo's name, a recipe key as it is to be recorded: the bot names its
    files without their folders) is written over the recipe in the metadata and sidecar."""
    out = Path(out)
    fmt = check_video_path(out)
    check_sidecar(out)  # before the work: the sidecar written at the end must not replace a stranger's file
    settings.validate()
    recipe.validate()
    recipe.check_complete()
    size = _video_size(image, recipe, settings)
    check_shape(*size, what=str(out))
    photo = image.convert("RGB")
    if photo.size != size:
        photo = photo.resize(size, Image.LANCZOS)
    doc = {"recipe": {**recipe.to_dict(), **(info or {})}, "dive": asdict(settings)}
    parts = parts_dir(out)
    _claim(parts, {"recipe": recipe.to_dict(), "dive": asdict(settings), "size": list(size),
                   "photo": hashlib.sha256(photo.tobytes()).hexdigest()})

    made = _Made()
    partial = parts / f"video.partial{out.suffix.lower()}"
    with VideoWriter(partial, fmt, size, settings.fps, recipe_metadata(doc)) as writer:
        for frame in dive_frames(photo, recipe, settings, parts, made, progress, device, net):
            writer.write(frame)
    os.replace(partial, out)
    _write_sidecar(out, doc)
    shutil.rmtree(parts, ignore_errors=True)
    return DiveResult(out, recipe.video.frames, settings.fps, size, made.keys, made.dreamt, made.resumed_at)


@dataclass
class _Made:
    keys: int = 0
    dreamt: int = 0
    resumed_at: int = 0


def dive_frames(photo: Image.Image, recipe: Recipe, settings: DiveSettings, parts: Path,
                made: _Made | None = None, progress: Callable[[DiveProgress], None] | None = None,
                device: str | None = None, net: Any = None) -> Iterator[Image.Image]:
    """The dive's frames in order, one at a time, dreaming the keyframes `parts` does not hold
    yet (and storing each there as soon as it is made)."""
    made = made if made is not None else _Made()
    video = recipe.video
    n, keys = video.frames, keyframes(video.frames, settings.glide)
    cam = [camera(i, n, settings.ease) for i in range(n)]
    stored = 0
    while stored < len(keys) and key_path(parts, keys[stored]).is_file():
        stored += 1
    made.keys, made.resumed_at = len(keys), keys[stored] if stored < len(keys) else n
    base_seed = recipe.seed or 0
    written = 0

    def key(j: int, prev: Image.Image | None) -> Image.Image:
        if j < stored:
            return Image.open(key_path(parts, keys[j])).convert("RGB")
        if prev is None:
            start = photo
        else:
            travel = cam[keys[j]] - cam[keys[j - 1]]
            start = to_image(zoom_rotate(to_tensor(prev), video.zoom ** travel, video.rotate * travel))
        report = None
        if progress is not None:
            def report(p: Progress) -> None:
                progress(DiveProgress(written, n, j, len(keys), p))
        # every keyframe takes all its steps (stop_seen 0): from the second on the creature is
        # there from the start, and stopping when it is seen would leave the dive still, not deeper
        image = dream(start, recipe.replace(seed=base_seed + j, frames=1, stop_seen=0.0), progress=report,
                      device=device, net=net)
        if image.size != photo.size:
            raise DiveError(f"keyframe {j} came out {image.size}, not {photo.size}")
        _store(image, key_path(parts, keys[j]))
        made.dreamt += 1
        _kill_point(j)
        return image

    prev = key(0, None)
    yield prev
    written = 1
    a = to_tensor(prev)
    for j in range(1, len(keys)):
        cur = key(j, prev)
        b = to_tensor(cur)
        k0, k1 = keys[j - 1], keys[j]
        for f in range(k0 + 1, k1 + 1):
            t = (f - k0) / (k1 - k0)
            yield cur if f == k1 else to_image(between(a, b, t, cam[f] - cam[k0], cam[k1] - cam[f],
                                                       video.zoom, video.rotate))
            written += 1
            if progress is not None:
                progress(DiveProgress(written, n, j, len(keys), None))
        prev, a = cur, b


def _video_size(image: Image.Image, recipe: Recipe, settings: DiveSettings) -> tuple[int, int]:
    w, h = image.size
    s = min(1.0, math.sqrt(recipe.max_pixels / (w * h)))  # the dream would shrink it past this
    return even_size(w, h, min(settings.size, math.floor(max(w, h) * s)))


def _claim(parts: Path, manifest: dict[str, Any]) -> None:
    """Make the parts folder this dive's, or check that it already is."""
    path = parts / "manifest.json"
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        if old != json.loads(json.dumps(manifest)):
            diff = _differences(old, manifest)
            raise DiveError(f"{parts} holds the keyframes of another dive ({diff}); make the same "
                            f"dive again to resume it, or delete {parts} to start this one")
        return
    parts.mkdir(parents=True, exist_ok=True)
    _store_text(json.dumps(manifest, indent=1, sort_keys=True), path)


def _differences(old: Any, new: dict[str, Any]) -> str:
    if not isinstance(old, dict):
        return "its manifest is unreadable"
    keys = []
    for part in ("recipe", "dive"):
        a, b = old.get(part) or {}, json.loads(json.dumps(new[part]))
        keys += [f"{part}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    for part in ("size", "photo"):
        if old.get(part) != new[part]:
            keys.append(part)
    return "differs in " + ", ".join(keys) if keys else "written by another version"


def _store(image: Image.Image, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, path)  # a kill mid-write leaves a .tmp that no resume reads


def _store_text(text: str, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_sidecar(out: Path, doc: dict[str, Any]) -> None:
    from datetime import datetime, timezone

    from dreamer.image_io import _software
    from dreamer.image_save import SIDECAR_FILE

    side = {**doc, "software": _software(), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            SIDECAR_FILE: out.name}  # whose sidecar it is: another dream of the stem must not take it
    _store_text(json.dumps(side, indent=2, sort_keys=True) + "\n", out.with_suffix(".json"))


def _kill_point(j: int) -> None:
    """Tests kill a dive as the OOM killer would, right after keyframe j is stored."""
    if f"dive:{j}" in os.environ.get(KILL_ENV, "").split(","):
        os.kill(os.getpid(), signal.SIGKILL)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)

