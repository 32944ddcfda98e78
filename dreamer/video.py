"""Video files: frames streamed to an H.264 MP4 or a VP9 WebM, the recipe in the file's metadata,
and the few reads the tests, the GIF preview and a gallery's poster need.

Encoded with PyAV (`av`), not imageio-ffmpeg. Both ship ffmpeg in their wheels, so nothing else
is installed; PyAV's wheel is about half the size (36 MB against 68 MB, ffmpeg's libraries
rather than a static binary), it encodes in-process (no child process to start, feed through a
pipe and reap when a dive is killed: an error is an exception, not a broken pipe), and the same
library reads a file back frame by frame, which the tests and the GIF preview use.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from dreamer.image_io import RECIPE_KEY, ImageError

# suffix -> (container format, encoder, encoder options)
# H.264 at CRF 20 with a ceiling (see _rate_options); yuv420p because most players, phones
# and Mastodon's own re-encoding expect 4:2:0, and it needs even sides.
VIDEO_FORMATS: dict[str, tuple[str, str, dict[str, str]]] = {
    ".mp4": ("mp4", "libx264", {"crf": "20", "preset": "medium", "profile": "high"}),
    ".webm": ("webm", "libvpx-vp9", {"crf": "32", "deadline": "good", "cpu-used": "4", "row-mt": "1"}),
}
# Dreams are all fine detail, so CRF alone lets the rate run high; cap it at this many bits per
# pixel per frame (480x320 at 24 fps: 0.92 Mbit/s, about 0.7 MB for six seconds).
MAX_BITS_PER_PIXEL = 0.25


class VideoError(ImageError):
    """A video cannot be written or read; the message names the file and says why."""


@dataclass(frozen=True)
class VideoInfo:
    frames: int  # decoded, not the container's claim
    fps: Fraction
    width: int
    height: int
    codec: str
    pix_fmt: str
    metadata: dict[str, str]


def check_video_path(path: Path) -> str:
    """The container format for `path`'s suffix, or a VideoError listing the ones we write."""
    fmt = VIDEO_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise VideoError(f"{path}: cannot write a {path.suffix or 'file without extension'} video; "
                         f"use one of {', '.join(VIDEO_FORMATS)}")
    return fmt[0]


def even_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """The photo's shape scaled so its long side is at most `long_side`, both sides even (4:2:0
    chroma is sampled in 2x2 blocks; odd sides are refused by the encoder)."""
    big = max(width, height)
    side = min(long_side, big)  # never enlarged
    w, h = width * side // big, height * side // big  # integers: 161 at 96/161 stays 96
    return max(2, w - w % 2), max(2, h - h % 2)


class VideoWriter:
    """Frames in, one by one, as PIL images or (H, W, 3) uint8 arrays: nothing is kept, so memory
    does not grow with the length. Writes exactly to `path` (the caller renames it into place),
    in the container `fmt` names ("mp4" or "webm"; the suffix may be a temporary one)."""

    def __init__(self, path: Path, fmt: str, size: tuple[int, int], fps: int,
                 metadata: dict[str, str] | None = None):
        import av

        suffix = next((s for s, v in VIDEO_FORMATS.items() if v[0] == fmt), None)
        if suffix is None:
            raise VideoError(f"{path}: unknown video format {fmt!r}")
        _, codec, options = VIDEO_FORMATS[suffix]
        w, h = size
        if w % 2 or h % 2:
            raise VideoError(f"{path}: {w}x{h}: a yuv420p video needs even sides")
        self.path, self.size, self.frames = Path(path), (w, h), 0
        try:
            self._box = av.open(str(path), "w", format=fmt,
                                options={"movflags": "+faststart"} if fmt == "mp4" else {})
        except (OSError, av.FFmpegError) as exc:
            raise VideoError(f"{path}: cannot write the video ({exc})") from None
        for key, value in (metadata or {}).items():
            self._box.metadata[key] = value
        st = self._box.add_stream(codec, rate=Fraction(fps))
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        # BT.709 both in the conversion and in the tags, so players do not guess (and shift colours).
        cc = st.codec_context
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1
        cc.gop_size = 2 * fps  # a keyframe every two seconds: seeking and a poster stay cheap
        cc.options = {**options, **_rate_options(codec, w, h, fps)}
        self._stream = st

    def write(self, frame: Image.Image | np.ndarray) -> None:
        import av

        arr = np.asarray(frame.convert("RGB") if isinstance(frame, Image.Image) else frame)
        if arr.shape != (self.size[1], self.size[0], 3) or arr.dtype != np.uint8:
            raise VideoError(f"{self.path}: frame {self.frames} is {arr.shape} {arr.dtype}, "
                             f"expected ({self.size[1]}, {self.size[0]}, 3) uint8")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
        vf = vf.reformat(format="yuv420p", dst_colorspace="itu709")
        vf.pts = self.frames
        self._mux(vf)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (an MP4 is unreadable until this has run)."""
        if self._box is None:
            return
        self._mux(None)
        self._box.close()
        self._box = None

    def abort(self) -> None:
        if self._box is not None:
            try:
                self._box.close()
            except Exception:  # noqa: BLE001 - the file is thrown away anyway
                pass
            self._box = None

    def _mux(self, frame: Any) -> None:
        import av

        try:
            for packet in self._stream.encode(frame):
                self._box.mux(packet)
        except (OSError, av.FFmpegError) as exc:
            raise VideoError(f"{self.path}: encoding failed at frame {self.frames} ({exc})") from None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _rate_options(codec: str, w: int, h: int, fps: int) -> dict[str, str]:
    cap = max(200_000, int(MAX_BITS_PER_PIXEL * w * h * fps))  # a thumbnail-sized dive still looks right
    if codec == "libx264":
        return {"maxrate": str(cap), "bufsize": str(2 * cap)}
    return {"b:v": str(cap)}  # VP9: with crf, b:v is the ceiling (constrained quality)


def recipe_metadata(recipe: dict[str, Any]) -> dict[str, str]:
    """Container tags carrying the recipe: `comment` is the tag both MP4 (©cmt) and Matroska
    keep and ffprobe shows; the key prefix is the one pictures' JPEG comments use."""
    return {"comment": f"{RECIPE_KEY}:{json.dumps(recipe, sort_keys=True, separators=(',', ':'))}"}


def _open(path: Path):
    import av

    if not Path(path).is_file():
        raise VideoError(f"{path}: no such file")
    try:
        return av.open(str(path))
    except (OSError, av.FFmpegError) as exc:
        raise VideoError(f"{path}: not a video we can read ({exc})") from None


def read_video_metadata(path: str | Path) -> dict[str, Any] | None:
    """What a dive video carries in its metadata ({"recipe": ..., "dive": ...}), or None."""
    with _open(Path(path)) as box:
        # Matroska upper-cases its tag names (COMMENT); MP4 keeps ours.
        text = next((v for k, v in box.metadata.items() if k.lower() == "comment"), "")
    if not text.startswith(RECIPE_KEY + ":"):
        return None
    try:
        data = json.loads(text[len(RECIPE_KEY) + 1:])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def probe(path: str | Path) -> VideoInfo:
    """Frame count (by decoding every frame), frame rate, size, codec and tags of a video."""
    with _open(Path(path)) as box:
        if not box.streams.video:
            raise VideoError(f"{path}: has no video stream")
        st = box.streams.video[0]
        n = sum(1 for _ in box.decode(st))
        return VideoInfo(n, Fraction(st.average_rate), st.width, st.height, st.codec_context.name,
                         st.codec_context.pix_fmt or "", dict(box.metadata))


def frames(path: str | Path) -> Iterator[Image.Image]:
    """A video's frames as RGB pictures, one at a time."""
    with _open(Path(path)) as box:
        for vf in box.decode(video=0):
            yield vf.to_image()


def poster(path: str | Path, at: float = 0.5) -> Image.Image:
    """The frame `at` of the way through (a gallery's poster, a post's preview)."""
    info = probe(path)
    want = min(info.frames - 1, max(0, round(at * (info.frames - 1))))
    for i, im in enumerate(frames(path)):
        if i == want:
            return im
    raise VideoError(f"{path}: has no frame {want}")


def gif_preview(video: str | Path, out: str | Path, width: int = 240, fps: int = 8,
                max_frames: int = 64) -> Path:
    """A small looping GIF of a video, for places that show no video (and a README). At most
    `max_frames` frames at `width` pixels (or the video's own, if narrower) are held, however
    long the video."""
    from dreamer.image_io import save_animation

    info = probe(video)
    width = min(width, info.width)
    step = max(1.0, float(info.fps) / fps, info.frames / max_frames)
    keep, nxt = [], 0.0
    for i, im in enumerate(frames(video)):
        if i >= nxt and len(keep) < max_frames:
            h = max(2, round(im.height * width / im.width))
            keep.append(im.resize((width, h), Image.LANCZOS))
            nxt += step
    duration = max(20, round(1000 * step / float(info.fps)))
    return save_animation(keep, out, duration_ms=duration)


def transcode(src: str | Path, out: str | Path, *, max_pixels: int | None = None, max_fps: float | None = None,
              max_bytes: int | None = None, min_side: int = 64) -> VideoInfo:
    """Re-encode `src` into `out` (H.264 MP4) to fit a server's limits: the frame rate lowered by
    keeping every k-th frame (the length in seconds stays), the size scaled down to `max_pixels`,
    and, while the file is still over `max_bytes`, scaled down again. The recipe's metadata is
    kept. Raises VideoError when even `min_side` pixels do not fit."""
    src, out = Path(src), Path(out)
    info = probe(src)
    fps = float(info.fps)
    step = max(1, math.ceil(fps / max_fps)) if max_fps and fps > max_fps else 1
    new_fps = max(1, round(fps / step))
    w, h = info.width, info.height
    if max_pixels and w * h > max_pixels:
        s = math.sqrt(max_pixels / (w * h))
        w, h = even_size(w, h, math.floor(max(w, h) * s))
    tags = {k: v for k, v in info.metadata.items() if k.lower() == "comment"}
    while True:
        with VideoWriter(out, "mp4", (w, h), new_fps, tags) as writer:
            for i, im in enumerate(frames(src)):
                if i % step == 0:
                    writer.write(im if im.size == (w, h) else im.resize((w, h), Image.LANCZOS))
        if not max_bytes or out.stat().st_size <= max_bytes:
            return probe(out)
        if max(w, h) * 0.8 < min_side:
            raise VideoError(f"{src}: cannot fit the video in {max_bytes} bytes even at {w}x{h}")
        w, h = even_size(w, h, math.floor(max(w, h) * 0.8))
