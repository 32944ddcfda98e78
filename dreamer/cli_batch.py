"""`dream a.jpg b.jpg … --batch K`: the command line's side of several photos through one net batch
(dreamer.render_batch does the work)."""
from __future__ import annotations

import argparse
from pathlib import Path

from dreamer.cli_common import CliError, finish, load_photo, recipe_metadata
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
    from dreamer.plan import Engine, engine  # torch: `import dreamer.cli` stays light (cli.main)

    for clash, given in (("--frames (a dive)", recipe.video.frames > 1), ("--save-steps", args.save_steps),
                         ("--method tiles", engine(recipe) is not Engine.VIEWS)):
        if given:
            raise CliError(f"--batch {args.batch} cannot be used with {clash}: leave out one of them")


def render_batches(inputs: list[Path], outputs: list[Path], recipe: Recipe, args: argparse.Namespace) -> int:
    """Dream the photos args.batch at a time, saving and naming each output as it is done."""
    from dreamer.image_io import save_image
    from dreamer.render_batch import dream_batch

    pairs, skipped = list(zip(inputs, outputs)), []
    for start in range(0, len(pairs), args.batch):
        loaded = [(src, dst, load_photo(src, recipe, skipped, many=len(pairs) > 1))
                  for src, dst in pairs[start:start + args.batch]]
        chunk = [(src, dst, image) for src, dst, image in loaded if image is not None]
        if not chunk:
            continue
        results = dream_batch([image for _, _, image in chunk], [recipe] * len(chunk), device=args.device)
        for (src, dst, _), result in zip(chunk, results):
            save_image(result, dst, recipe_metadata(as_ran(recipe, result), src))
            print(dst)
    return finish(skipped, len(pairs))
