"""`dream a.jpg b.jpg … --batch K`: the command line's side of several photos through one net batch
(dreamer.render_batch does the work)."""
from __future__ import annotations

import argparse
from pathlib import Path

from dreamer.cli_common import CliError, recipe_metadata
from dreamer.plan import Engine, engine
from dreamer.recipe import Recipe, as_ran


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=int, default=1, metavar="K",
                   help="dream up to K of the photos at once, their views through one net batch (the views "
                   "engine; meant for a GPU, about the same speed on a CPU; no progress bar)")


def check_args(args: argparse.Namespace, recipe: Recipe) -> None:
    """Mistakes in --batch, found before any photo or net is loaded."""
    if args.batch < 1:
        raise CliError(f"--batch {args.batch}: give the number of photos per batch, 1 or more")
    if args.batch == 1:
        return
    for clash, given in (("--frames (a dive)", recipe.video.frames > 1), ("--save-steps", args.save_steps),
                         ("--method tiles", engine(recipe) is not Engine.VIEWS)):
        if given:
            raise CliError(f"--batch {args.batch} cannot be used with {clash}: leave out one of them")


def render_batches(inputs: list[Path], outputs: list[Path], recipe: Recipe, args: argparse.Namespace) -> int:
    """Dream the photos args.batch at a time, saving and naming each output as it is done."""
    from dreamer.image_io import load_image, save_image
    from dreamer.render_batch import dream_batch
    from dreamer.shape import check_shape

    pairs = list(zip(inputs, outputs))
    for start in range(0, len(pairs), args.batch):
        chunk = pairs[start:start + args.batch]
        images = []
        for src, _ in chunk:
            images.append(load_image(src, max_pixels=recipe.max_pixels))
            check_shape(*images[-1].size, what=str(src))
        for (src, dst), result in zip(chunk, dream_batch(images, [recipe] * len(chunk), device=args.device)):
            save_image(result, dst, recipe_metadata(as_ran(recipe, result), src))
            print(dst)
    return 0
