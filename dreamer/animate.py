"""Dive animations: each frame is the last one zoomed and rotated a little, then dreamt again."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PIL import Image, PngImagePlugin

from dreamer.recipe import Recipe
from dreamer.activations import ProgressFn
from dreamer.render import dream
from dreamer.transform import to_image, to_tensor, zoom_rotate


def frame_path(folder: Path, k: int) -> Path:
    return folder / f"frame_{k:05d}.png"


def _frame_mark() -> PngImagePlugin.PngInfo:
    """What every frame carries, as a dream's PNG does: "Software: lucid-dream-bot <version>".
    By it a later dive into the folder knows the frame for its own (image_meta.is_our_frame), where the
    name alone could be a user's (ffmpeg's frames are often frame_00001.png)."""
    from dreamer.image_io import _software

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", _software())
    return info


def dive(
    image: Image.Image,
    recipe: Recipe,
    folder: str | Path,
    *,
    start_frame: int = 0,
    animation: str | None = "dive.gif",
    progress: ProgressFn | None = None,
    on_frame: Callable[[int, Path], None] | None = None,
    device: str | None = None,
) -> list[Path]:
    """Render recipe.video.frames frames into `folder` (frame_00000.png, ...), then an animated GIF or
    WebP named `animation` from all of them. With start_frame=K the frames before K are taken
    from the folder, so an interrupted dive resumes where it stopped."""
    if not 0 <= start_frame <= recipe.video.frames:
        raise ValueError(f"start_frame {start_frame}: a dive of {recipe.video.frames} frames "
                         f"resumes at 0..{recipe.video.frames}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if start_frame > 0:
        prev_path = frame_path(folder, start_frame - 1)
        if not prev_path.exists():
            raise FileNotFoundError(f"cannot resume at frame {start_frame}: {prev_path} is missing")
        from dreamer.image_io import ImageError, load_image

        try:  # the reader every photo goes through: a damaged frame is an ImageError, not PIL's own
            current = load_image(prev_path, max_pixels=recipe.max_pixels)
        except ImageError as exc:
            raise ImageError(f"cannot resume at frame {start_frame}: {exc}") from None
    else:
        current = image.convert("RGB")
    base_seed = recipe.seed or 0
    for k in range(start_frame, recipe.video.frames):
        if k > 0:
            current = to_image(zoom_rotate(to_tensor(current), recipe.video.zoom, recipe.video.rotate))
        # A fresh seed per frame keeps the tile grid moving; the same recipe gives the same dive.
        current = dream(current, recipe.replace(seed=base_seed + k, frames=1), progress=progress, device=device)
        path = frame_path(folder, k)
        tmp = path.with_suffix(".tmp.png")
        current.save(tmp, format="PNG", pnginfo=_frame_mark())
        tmp.replace(path)
        if on_frame is not None:
            on_frame(k, path)
    paths = [frame_path(folder, k) for k in range(recipe.video.frames)]
    if animation:
        from dreamer.image_io import save_animation

        save_animation([Image.open(p) for p in paths], folder / animation)
    return paths
