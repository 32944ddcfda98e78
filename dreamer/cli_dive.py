"""`dream … --video dive.mp4` and `dream … --frames N`: the command line's side of dives
(dreamer.dive and dreamer.animate do the work)."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterator

from dreamer.cli_common import CliError, check_writable, existing_folder, note_animation, same_file, user_path
from dreamer.cli_info import make_progress
from dreamer.recipe import Recipe

DIVE_FLAGS = {"fps": "fps", "glide": "glide", "ease": "ease", "video_size": "size"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from dreamer.dive import DIVE_RECIPE, DiveSettings

    d = DiveSettings()
    g = p.add_argument_group(
        "dive video",
        f"with --video a dive starts from frames {DIVE_RECIPE['frames']}, zoom {DIVE_RECIPE['zoom']} and "
        f"rotate {DIVE_RECIPE['rotate']} (per frame),\nsteps {DIVE_RECIPE['steps']} (per keyframe), under "
        "--preset, --recipe and flags. Killed, the same command\nagain resumes it.")
    g.add_argument("--video", type=user_path, metavar="OUT", help="write the dive as a video: OUT.mp4 (H.264) or OUT.webm (VP9)")
    g.add_argument("--fps", type=int, help=f"frames per second (default: {d.fps})")
    g.add_argument("--glide", type=int, metavar="K", help=f"dream every K-th frame, glide between (default: {d.glide})")
    g.add_argument("--ease", type=float, help=f"fraction of the dive spent speeding up and slowing down, 0..0.5 (default: {d.ease})")
    g.add_argument("--video-size", type=int, metavar="PX", help=f"the video's long side (default: {d.size})")
    g.add_argument("--preview", type=user_path, metavar="GIF", help="also write a small GIF preview of the video")


def recipe_base(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe a dive starts from, under --preset, --recipe and flags."""
    if getattr(args, "video", None) is None:
        return {}
    from dreamer.dive import DIVE_RECIPE

    return dict(DIVE_RECIPE)


def check_args(args: argparse.Namespace) -> None:
    """Mistakes in the video flags, found before any net is loaded."""
    from dreamer.image_io import check_sidecar
    from dreamer.video import check_video_path

    given = [f"--{k.replace('_', '-')}" for k in (*DIVE_FLAGS, "preview") if getattr(args, k) is not None]
    if args.video is None:
        if given:
            raise CliError(f"{', '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} to a video: "
                           "add --video OUT.mp4")
        if args.recipe is not None and args.frames is None and _dive_of(args.recipe) is not None:
            # It made a folder of frames each dreamt whole, no glide between: another film, in
            # several times the time, where the README promises the video again.
            raise CliError(f"--recipe {args.recipe} is a dive video's: add --video OUT.mp4 to make it again "
                           "(or --frames N for a folder of frames, --frames 1 for one picture)")
        return
    check_video_path(args.video)
    check_sidecar(args.video)  # its recipe goes beside it, as a picture's does
    for flag, path in (("--video", args.video), ("--preview", args.preview)):
        if path is not None:
            check_writable(existing_folder(flag, path), flag, path)
    if args.preview is not None and args.preview.suffix.lower() != ".gif":
        raise CliError(f"--preview {args.preview}: the preview is a GIF; name it something.gif")
    if args.preview is not None and any(same_file(args.preview, src) for src in args.inputs):
        # A GIF dreamt into a dive: its preview replaced it once the video was done.
        raise CliError(f"--preview {args.preview} is the photo being dreamt, which it would replace; "
                       "choose another name")
    # Only a dive of ours is made again over, as only a dream is (cli.check_outputs): `--video
    # holiday.mp4` replaced a film of the user's without a word, `--preview` any GIF.
    for flag, path, ours, what in (("--video", args.video, is_our_video, "dive video"),
                                   ("--preview", args.preview, is_our_gif, "dive's preview")):
        if path is not None and (path.exists() or path.is_symlink()) and not ours(path):
            raise CliError(f"{flag} {path} is there already and is no {what} (dream replaces only the ones it "
                           "made); choose another name, or move that file")
    if len(args.inputs) > 1:
        raise CliError("--video makes one dive from one photo; give a single photo")
    if args.output is not None:
        raise CliError("--video names the dive's file; leave out --output")
    if args.start_frame:
        raise CliError("--start-frame is for frame-folder dives; a video dive resumes by itself: "
                       "run the same command again (its keyframes wait in "
                       f"{args.video.name}.parts/ beside the video)")
    settings(args).validate()


def is_our_video(path: Path) -> bool:
    """Whether `path` is a dive video we wrote: dive_video tags the container with its recipe."""
    from dreamer.video import read_video_metadata

    try:
        doc = path.is_file() and read_video_metadata(path)
    except Exception:  # noqa: BLE001 - a file the decoder cannot read is no video of ours
        return False
    return isinstance(doc, dict) and isinstance(doc.get("recipe"), dict)


def is_our_gif(path: Path) -> bool:
    """Whether `path` is a GIF we wrote (a preview, a frame dive's dive.gif): save_animation
    gives each the comment "lucid-dream-bot <version>"."""
    from dreamer.image_meta import has_our_mark

    return has_our_mark(path, "GIF", "comment")


# Beside its frames a frame dive writes dive.gif and recipe.json, each first to a hidden
# temporary file (image_save._atomic_write) that a kill may leave.
_FRAME_DIVE_TMP = re.compile(r"\.(dive\.gif|recipe\.json)\.[0-9a-f]{8}\.tmp")
# What a desktop writes into any folder it shows; a dive never writes these names.
_DESKTOP_FILES = (".DS_Store", "Thumbs.db", "desktop.ini")


def check_frames_folder(folder: Path) -> None:
    """Refuse, before any net is loaded, a frame dive into a folder that holds anything dream
    cannot tell for its own (a frame it marked, its dive.gif and recipe.json): a user's
    frame_00000.png or dive.gif was replaced, and their photos got a dive's frames mixed in.
    A new or empty folder, or one of an earlier (or interrupted) dive, is fine."""
    from dreamer.image_meta import FRAME_NAME, FRAME_TMP, is_our_frame
    from dreamer.cli_info import unique_path
    from dreamer.image_save import is_our_sidecar

    if not folder.is_dir():
        return

    def ours(p: Path) -> bool:
        # A temporary file is known by its name alone: a kill may have cut it before its mark.
        if p.name in _DESKTOP_FILES or FRAME_TMP.fullmatch(p.name) or _FRAME_DIVE_TMP.fullmatch(p.name):
            return not p.is_symlink() and p.is_file()
        if p.name == "dive.gif":
            return not p.is_symlink() and is_our_gif(p)
        if p.name == "recipe.json":
            return not p.is_symlink() and is_our_sidecar(p)
        return is_our_frame(p)

    strangers = sorted(p.name for p in folder.iterdir() if not ours(p))
    if strangers:
        shown = ", ".join(strangers[:3]) + (f" and {len(strangers) - 3} more" if len(strangers) > 3 else "")
        # `-o .` has no name to number: the suggestion is made from the absolute path.
        # A frame_NNNNN.png without our mark is another program's (ffmpeg names its frames so) or
        # a dive of a version that did not mark its frames: say so, or the refusal reads as a bug.
        unmarked = " (a frame_NNNNN.png without dream's mark: another program's, or from a version " \
            "of dream before frames were marked)" if any(FRAME_NAME.fullmatch(n) for n in strangers) else ""
        raise CliError(f"--output {folder} holds files dream cannot tell for its own ({shown}){unmarked}; a dive "
                       "writes its frames only into a new or empty folder, or one of its own frames: name another "
                       f"folder (e.g. -o {unique_path(Path(os.path.abspath(folder)))}/), or move those files")


def settings(args: argparse.Namespace):
    from dreamer.dive import DiveSettings

    base = asdict(DiveSettings())
    if args.recipe is not None:  # a dive's video or sidecar brings its own settings too
        base.update(_dive_of(args.recipe) or {})
    for flag, key in DIVE_FLAGS.items():
        if getattr(args, flag) is not None:
            base[key] = getattr(args, flag)
    return DiveSettings.from_dict(base)


def _dive_of(path: Path) -> dict[str, Any] | None:
    from dreamer.video import VIDEO_FORMATS, read_video_metadata

    try:
        if path.suffix.lower() in VIDEO_FORMATS:
            doc = read_video_metadata(path)
        elif path.suffix.lower() == ".json":
            doc = json.loads(path.read_text(encoding="utf-8"))
        else:
            return None
    except (OSError, ValueError):
        return None  # load_recipe_arg reports an unreadable file
    dive = doc.get("dive") if isinstance(doc, dict) else None
    return dive if isinstance(dive, dict) else None


def resume_seed(args: argparse.Namespace, recipe: Recipe) -> Recipe:
    """A dive killed part way, run again without --seed: its parts folder's seed, so the same
    command resumes it rather than meeting a stranger's keyframes."""
    if args.seed is not None or args.recipe is not None:
        return recipe
    from dreamer.dive import parts_dir

    try:
        old = json.loads((parts_dir(args.video) / "manifest.json").read_text(encoding="utf-8"))
        seed = old["recipe"]["seed"]
    except (OSError, ValueError, KeyError, TypeError):
        return recipe
    return recipe.replace(seed=seed) if isinstance(seed, int) else recipe


def run_video(args: argparse.Namespace, recipe: Recipe, info: dict[str, Any]) -> int:
    from dreamer.dive import dive_video, parts_dir
    from dreamer.image_io import load_image
    from dreamer.shape import check_shape

    src = args.inputs[0]
    image = load_image(src, max_pixels=recipe.max_pixels)
    check_shape(*image.size, what=str(src))
    note_animation(src, image)
    if (parts_dir(args.video) / "manifest.json").is_file():
        print(f"dream: resuming the dive kept in {parts_dir(args.video)}", file=sys.stderr)
    bar = None
    show = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(desc=args.video.name, unit="step", file=sys.stderr, leave=False)
        show = _Bar(bar)
    parts = parts_dir(args.video)
    with _dive_run(bar, lambda: f"the same command again goes on from the last keyframe, kept in {parts}"
                   if (parts / "manifest.json").is_file() else None):
        result = dive_video(image, recipe, args.video, settings(args), info=info, progress=show, device=args.device)
    if result.resumed_at:
        print(f"dream: resumed at frame {result.resumed_at}/{result.frames}", file=sys.stderr)
    print(result.path)
    if args.preview is not None:
        from dreamer.video import gif_preview

        print(gif_preview(result.path, args.preview))
    return 0


class _Bar:
    """One bar over the dreaming left (its ETA is the dive's), described "frame k/N"."""

    def __init__(self, bar: Any):
        self.bar = bar
        self.first_key: int | None = None

    def __call__(self, p: Any) -> None:
        self.bar.set_description(f"frame {p.frame}/{p.frames}", refresh=p.dream is None)
        if p.dream is None:
            return
        if self.first_key is None:
            self.first_key = p.key
        self.bar.total = p.dream.total * (p.keys - self.first_key)
        self.bar.set_postfix(key=f"{p.key + 1}/{p.keys}", score=f"{p.dream.score:.2f}", refresh=False)
        self.bar.update(1)


def render_frames(image: Any, recipe: Recipe, folder: Path, args: argparse.Namespace) -> None:
    """A dive into a folder of frames (--frames N -o FOLDER). Interrupted, it says how to go on:
    its seed (drawn at random unless given) was recorded only once the dive was done, so the same
    command again began another dive in another folder."""
    from dreamer.animate import dive

    done = args.start_frame

    def on_frame(k: int, path: Path) -> None:
        nonlocal done
        done = k + 1
        print(path)

    on_progress, bar = make_progress(args.quiet, folder.name, None, recipe.video.frames, args.start_frame)
    with _dive_run(bar, lambda: f"{done} of {recipe.video.frames} frames are in {folder}; to go on, the same "
                   f"command with -o {folder} --seed {recipe.seed} --start-frame {done}" if done else None):
        dive(image, recipe, folder, start_frame=args.start_frame, progress=on_progress, device=args.device,
             on_frame=on_frame)
    from dreamer.image_io import _software
    from dreamer.image_save import write_recipe_file

    # in a sidecar's form, which Recipe.load and --recipe FOLDER read, so that a later dive into
    # the folder knows it for its own (check_frames_folder)
    write_recipe_file(folder / "recipe.json", recipe, _software())
    print(folder / "dive.gif")


@contextlib.contextmanager
def _dive_run(bar: Any, how_to_go_on: Callable[[], str | None]) -> Iterator[None]:
    """Around a dive: its progress bar closed however it ends, and, interrupted, the
    KeyboardInterrupt carrying how to go on (cli.main says it) where `how_to_go_on()` has a way."""
    try:
        yield
    except KeyboardInterrupt:
        words = how_to_go_on()
        if not words:
            raise
        raise KeyboardInterrupt(words) from None
    finally:
        if bar is not None:
            bar.close()
