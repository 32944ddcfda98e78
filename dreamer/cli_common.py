"""What the `dream` command's modules share: its error for a mistake on the command line, whether
two paths name one file, and the metadata a dreamt picture carries. A leaf: `cli` and its
subcommands (`cli_batch`, `cli_dive`) import it, it imports none of them."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from dreamer.recipe import Recipe

if TYPE_CHECKING:
    from PIL import Image


class CliError(Exception):
    pass


def load_photo(src: Path, recipe: Recipe, skipped: list[Path], many: bool) -> "Image.Image | None":
    """The photo at `src`, ready to dream; None when it cannot be and others are waiting: one bad
    photo among several costs only itself (its error is said now, and the run exits 2 at the end,
    `finish`). A single photo's error is raised as before."""
    from dreamer.image_io import ImageError, load_image
    from dreamer.shape import check_shape

    try:
        image = load_image(src, max_pixels=recipe.max_pixels)
        check_shape(*image.size, what=str(src))
        note_animation(src, image)
        return image
    except ImageError as exc:
        if not many:
            raise
        print(f"dream: error: {exc} (skipped; the other photos go on)", file=sys.stderr)
        skipped.append(src)
        return None


def note_animation(src: Path, image: "Image.Image") -> None:
    """Say that an animated photo (GIF, WebP, APNG) is dreamt from one frame only, and which."""
    from dreamer.image_io import animation_frame, frame_words

    frame = animation_frame(image)
    if frame is not None:
        print(f"dream: note: {src} is animated; dreaming {frame_words(frame)}", file=sys.stderr)


def finish(skipped: list[Path], total: int) -> int:
    """The exit code of a run over `total` photos of which `skipped` could not be dreamt."""
    if not skipped:
        return 0
    names = ", ".join(str(p) for p in skipped)
    print(f"dream: error: {len(skipped)} of {total} photos were not dreamt: {names}", file=sys.stderr)
    return 2


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C until the block is done, then raise it as KeyboardInterrupt. For torch's import,
    the first second or two of every run: interrupted in it, `dream` printed a page of
    traceback, or went on dreaming (torch swallowed the interrupt), or aborted (SIGABRT)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield  # no handler can be set here, or Ctrl-C is ignored or handled by the caller
        return
    caught: list[int] = []

    def hold(signum: int, frame: object) -> None:
        # the first Ctrl-C waits for the block; a second is Python's own again, for an import
        # that hangs (a broken CUDA or network install) and would otherwise need kill -9
        caught.append(signum)
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def existing_folder(flag: str, path: Path) -> Path | None:
    """The nearest of `path`'s folders that is there (None: none is, the current one), refusing a
    file where a folder must be made: it failed only at saving, after the whole dream."""
    there = next((p for p in path.parents if p.exists() or p.is_symlink()), None)
    if there is not None and not there.is_dir():
        raise CliError(f"{flag} {path}: {there} is a file, not a folder; choose another {flag}")
    return there


def check_writable(folder: Path | None, flag: str, path: Path) -> None:
    """Refuse `flag path` before the dream when `folder` (the nearest of its folders there is;
    None: the current one) takes no new file: a read-only folder or disk lost the dream, found only
    at saving it. Tried by making a file, as permissions alone do not tell (root, read-only mounts)."""
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".dream-", suffix=".tmp", dir=folder or Path.cwd())
    except OSError as exc:
        raise CliError(f"{flag} {path}: cannot write in {folder or Path.cwd()} ({exc.strerror or exc}); "
                       f"choose another {flag}") from None
    os.close(fd)
    os.unlink(probe)


def user_path(text: str) -> Path:
    """A path argument, with a leading ~ made the home folder as the shell would have: quoted
    (`-o "~/My Pictures/x.jpg"`) it made a folder named ~ in the current one (which `rm -rf ~`
    would then clear the wrong way). cli_args gives the flags that are strings (-o, --guide, ...)
    os.path.expanduser itself."""
    return Path(os.path.expanduser(text))


def same_file(a: Path, b: Path) -> bool:
    """Whether `a` and `b` are one file, however named (a link, ./x, another case)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them is not there yet
        return False


def recipe_metadata(recipe: Recipe, source: Path | None = None) -> dict:
    meta = recipe.to_dict()
    try:
        from models.labels import imagenet, resolve_weights

        # Only lucid dreams its classes: a --recipe of another mode may carry some it never
        # dreamt (a bot's post of before it recorded none, a recipe written by hand).
        ids = resolve_weights(recipe.classes, imagenet()) if recipe.classes and recipe.mode == "lucid" else {}
        meta["class_names"] = {str(i): imagenet().name(i) for i in ids}
    except Exception:  # noqa: BLE001 - names are a courtesy for readers, never a reason to fail
        pass
    if source is not None:
        meta["source"] = Path(source).name
    return meta
