"""Flags a run would not use. `dream` refuses them before any net is loaded, saying which to leave
out or what to add, rather than dream something else than was asked: `--mode deepdream -c goldfish`
dreamt a layer's patterns into a picture named photo_goldfish_s1.jpg, `-o x.jpg --format png` a
JPEG."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dreamer.cli_common import CliError
from dreamer.recipe import Mode, Recipe

# What each mode dreams from, of the flags that say what to dream; a guide falls back on --layer
# for the layer it is matched at (dreamer.plan.objective_for).
MODE_READS: dict[Mode, tuple[str, ...]] = {
    Mode.LUCID: ("classes", "random_classes"),
    Mode.DEEPDREAM: ("layer",),
    Mode.GUIDE: ("guide", "guide_layer", "layer"),
    Mode.RANDOMISE: (),
}
# The mode that reads a flag, to suggest with it.
FLAG_MODE = {"classes": Mode.LUCID, "random_classes": Mode.LUCID, "layer": Mode.DEEPDREAM,
             "guide": Mode.GUIDE, "guide_layer": Mode.GUIDE}
MODE_WORDS = {Mode.LUCID: "dreams the classes", Mode.DEEPDREAM: "dreams a layer's patterns",
              Mode.GUIDE: "dreams towards the guide picture", Mode.RANDOMISE: "pushes every class at random"}


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def check_mode_flags(args: argparse.Namespace, recipe: Recipe) -> None:
    """Refuse a flag of what to dream that the run's mode does not read."""
    mode = Mode(recipe.mode)
    unused = [dest for dest in FLAG_MODE if getattr(args, dest, None) not in (None, 0)
              and dest not in MODE_READS[mode]]
    if not unused:
        return
    flags = " and ".join(_flag(d) for d in unused)
    wanted = FLAG_MODE[unused[0]]
    # the flags given for this mode, which the other one would refuse in turn (--guide -c goldfish)
    own = [_flag(d) for d in FLAG_MODE if getattr(args, d, None) not in (None, 0) and d not in MODE_READS[wanted]]
    instead = f" without {' and '.join(own)}" if own else ""
    raise CliError(f"mode {mode.value} {MODE_WORDS[mode]}; it does not use {flags}: leave "
                   f"{'it' if len(unused) == 1 else 'them'} out, or use --mode {wanted.value} "
                   f"(which {MODE_WORDS[wanted]}){instead}")


# The flags only one engine reads (dreamer.plan: views_plan reads recipe.views, tiles_plan
# recipe.tiles); --seed, --batch-size, --view-rotate and --max-pixels are both engines'. The views
# engine reads --tile-size too, for a guide picture only (the side it is seen at).
VIEWS_FLAGS = ("param", "steps", "lr", "strength", "decay", "view_min", "view_max", "view_coarsen", "hybrid",
               "hybrid_steps", "hybrid_steps_classes", "hybrid_partner", "hybrid_partner_turns", "hybrid_grow",
               "hybrid_floor", "work_pixels", "stop_seen", "stop_every")
TILES_FLAGS = ("iterations", "octaves", "octave_scale", "sigma_start", "sigma_end", "step_start", "step_end",
               "jitter", "gradient", "tile_overlap", "tile_size")
# What the other engine calls a flag's setting, where it has one.
ENGINE_INSTEAD = {"steps": "--iterations per octave and --octaves",
                  "lr": "--step-start and --step-end", "strength": "--step-start and --step-end",
                  "iterations": "--steps", "octaves": "--steps", "step_start": "--strength", "step_end": "--strength"}


def check_engine_flags(args: argparse.Namespace, recipe: Recipe) -> None:
    """Refuse a flag of the engine this run does not dream with: `--preset classic --steps 200`
    dreamt the tiles engine's 3 x 12 steps, `--iterations 30` a views dream of 128."""
    tiles = recipe.method == "tiles"
    other = VIEWS_FLAGS if tiles else TILES_FLAGS
    read_anyway = ("tile_size",) if not tiles and recipe.mode == Mode.GUIDE else ()
    unused = [d for d in other if getattr(args, d, None) is not None and d not in read_anyway]
    if not unused:
        return
    one = len(unused) == 1
    flags = " and ".join(_flag(d) for d in unused)
    engine, own = ("tiles", "views") if tiles else ("views", "tiles")
    instead = sorted({ENGINE_INSTEAD[d] for d in unused if d in ENGINE_INSTEAD})
    hint = f" (set {'; '.join(instead)} instead)" if instead else ""
    if "tile_size" in unused:
        hint += " (the views engine reads --tile-size only with --guide)"
    raise CliError(f"{flags} {'is' if one else 'are'} the {own} engine's; {_engine_source(args)} dreams "
                   f"with the {engine} engine, which does not read {'it' if one else 'them'}: leave "
                   f"{'it' if one else 'them'} out{hint}, or {_engine_switch(args, tiles)}")


# The tiles engine's flags that make its octaves (TilesSettings.plan); a recipe's octave_plan
# replaces those octaves, each with its own values (filled in from the recipe when it is read), so
# none of these reaches them. What to edit in the plan instead.
PLAN_FLAGS = {"octaves": "its number of octaves", "octave_scale": "each octave's scale",
              "iterations": "iterations", "sigma_start": "sigma_start", "sigma_end": "sigma_end",
              "step_start": "step_start", "step_end": "step_end"}


def check_plan_flags(args: argparse.Namespace, recipe: Recipe) -> None:
    """Refuse a flag of the generated octaves when the recipe sets its own: `--recipe R.json
    --octaves 5` dreamt R's octave_plan, its octaves as they were, without a word."""
    if recipe.method != "tiles" or not recipe.tiles.octave_plan:
        return
    unused = [d for d in PLAN_FLAGS if getattr(args, d, None) is not None]
    if not unused:
        return
    one = len(unused) == 1
    flags = " and ".join(_flag(d) for d in unused)
    source = f"--recipe {args.recipe}" if args.recipe is not None else "the recipe"
    raise CliError(f"{flags} {'sets' if one else 'set'} the octaves the tiles engine makes; {source} has an "
                   f"octave_plan, whose {len(recipe.tiles.octave_plan)} octave(s) are dreamt as it sets them: "
                   f"leave {'it' if one else 'them'} out, or edit the octave_plan "
                   f"({'; '.join(PLAN_FLAGS[d] for d in unused)})")


def _engine_source(args: argparse.Namespace) -> str:
    """What chose this run's engine, as the user typed it: a flag, else the recipe and preset it
    starts from (a recipe's method, where it has one, beats the preset's: cli.make_recipe)."""
    if args.method is not None:
        return f"--method {args.method}"
    given = [f"--{k} {getattr(args, k)}" for k in ("recipe", "preset") if getattr(args, k) is not None]
    return " with ".join(given) if given else "this run (the default)"


def _engine_switch(args: argparse.Namespace, tiles: bool) -> str:
    """How to dream with the other engine instead."""
    if tiles:
        if args.method is None and args.recipe is None:  # --preset classic
            return "use another --preset (subtle, default, wild, quick) for the views engine"
        return "use --method views"
    return "use --method tiles (or --preset classic)"


def check_unused_flags(args: argparse.Namespace, recipe: Recipe) -> None:
    """Refuse a flag that only applies to another kind of run than this one."""
    dive = recipe.video.frames > 1 or args.video is not None
    if args.group is not None and not args.random_classes:
        raise CliError(f"--group {args.group} draws --random-classes from a group: add --random-classes N, "
                       f"or name the group in --classes as @{args.group}")
    if dive and args.save_steps:
        raise CliError("--save-steps saves a single picture's steps; a dive (--frames, --video) saves none: "
                       "leave it out")
    if not dive:
        given = [f for f in ("zoom", "rotate") if getattr(args, f) is not None]
        if given:
            one = len(given) == 1
            raise CliError(f"{' and '.join(_flag(f) for f in given)} turn{'s' if one else ''} a dive's camera from "
                           "frame to frame; this is one picture: add --frames N (or --video OUT.mp4), or leave "
                           f"{'it' if one else 'them'} out")
    if args.format is not None:
        if dive:
            raise CliError(f"--format {args.format} is for pictures; a dive's frames are PNG and its video "
                           "is named by --video: leave it out")
        suffix = Path(args.output).suffix.lower() if args.output is not None else ""
        named = suffix.lstrip(".").replace("jpeg", "jpg")
        folder = Path(args.output).is_dir() or str(args.output).endswith(("/", os.sep))  # as plan_outputs reads it
        if suffix in (".jpg", ".jpeg", ".png", ".webp") and named != args.format and not folder:
            raise CliError(f"--format {args.format} is for an --output folder; -o {args.output} names a "
                           f"{named.upper()} file: name it {Path(args.output).with_suffix('.' + args.format)}, "
                           "or leave out --format")


def note_environment() -> None:
    """Say so when LUCID_DREAM_WORKERS holds no count: it was taken as 1 without a word, so a
    machine shared by several dreaming processes (`=two`) gave each all of its cores, and they thrashed."""
    from dreamer.threads import ENV_WORKERS, parse_workers  # torch: loaded by now (cli.main)

    value = os.environ.get(ENV_WORKERS)
    if value is not None and value.strip() and parse_workers(value) is None:
        print(f"dream: note: {ENV_WORKERS}={value!r} is no count of dreaming processes (1, 2, ...); "
              "taking 1", file=sys.stderr)
