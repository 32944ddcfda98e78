"""`dream`'s command line: its flags, and which recipe field each one sets."""
from __future__ import annotations

import argparse
import os

from dreamer import cli_batch, cli_dive, cli_info
from dreamer.cli_common import user_path
from dreamer.recipe import MODES

# CLI flag -> recipe field, for options that map one to one.
RECIPE_FLAGS = {
    "model": "model", "weights": "weights", "mode": "mode", "layer": "layer", "guide": "guide",
    "guide_layer": "guide_layer", "iterations": "iterations", "octaves": "octaves",
    "octave_scale": "octave_scale", "sigma_start": "sigma_start", "sigma_end": "sigma_end",
    "step_start": "step_start", "step_end": "step_end", "jitter": "jitter", "tile_size": "tile_size",
    "tile_overlap": "tile_overlap", "batch_size": "batch_size", "seed": "seed", "frames": "frames",
    "zoom": "zoom", "rotate": "rotate", "max_pixels": "max_pixels", "gradient": "gradient",
    "method": "method", "param": "param", "steps": "steps", "lr": "learning_rate", "strength": "strength",
    "decay": "decay", "view_min": "view_min", "view_max": "view_max", "view_coarsen": "view_coarsen",
    "view_rotate": "view_rotate", "hybrid": "hybrid", "hybrid_steps": "hybrid_steps",
    "hybrid_steps_classes": "hybrid_steps_classes",
    "hybrid_partner": "hybrid_partner", "hybrid_partner_turns": "hybrid_partner_turns",
    "work_pixels": "work_pixels", "stop_seen": "stop_seen", "stop_every": "stop_every",
    "hybrid_grow": "hybrid_grow", "hybrid_floor": "hybrid_floor",
}

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dream",
        description="Lucid-dream ImageNet classes (or a layer, or a guide picture) into photos.",
        epilog='example: dream photos/rocket.jpg --classes "goldfish, stingray:0.5" -o out/\n\n'
        + cli_info.presets_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=cli_info.version())
    p.add_argument("inputs", nargs="*", type=user_path, help="photo(s) to dream over")
    # -o a str, not a Path: its trailing slash says a folder (cli.plan_outputs)
    p.add_argument("-o", "--output", type=os.path.expanduser, help="output file (.jpg/.png/.webp) or folder (default: out/, named "
                   "<photo>_<classes>_s<seed>.jpg, never overwriting an earlier dream)")
    p.add_argument("--recipe", type=user_path, help="recipe file (TOML or JSON, a picture's .json sidecar, or a picture dream made); "
                   "flags override it")
    p.add_argument("--preset", help="named recipe to start from: subtle, default, wild, classic (the earlier tiles engine) or quick (half the steps); --recipe and flags override it")
    p.add_argument("--save-recipe", type=user_path, help="write the effective recipe to this file and continue")

    g = p.add_argument_group("what to dream")
    g.add_argument("--model", type=os.path.expanduser, help="network (see --list-models)")
    g.add_argument("--weights", type=os.path.expanduser, help="local weights file for the model (a Caffe model's .caffemodel)")
    g.add_argument("--labels", type=os.path.expanduser, metavar="FILE", help="class names for a model from files: one per line, JSON, or Caffe's synset_words.txt")
    g.add_argument("--mode", choices=MODES, help="default: lucid with classes, deepdream with --layer only, guide with --guide")
    g.add_argument("--classes", "-c", help='classes by name, id or range with weights: "goldfish, stingray:0.5, 1-5"')
    g.add_argument("--random-classes", type=int, metavar="N", help="dream N random classes (a mutant hybrid)")
    g.add_argument("--group", help="draw --random-classes from a group (fish, dogs, birds, ...)")
    g.add_argument("--randomise", action="store_true", help="push every class up or down at random (mode randomise)")
    g.add_argument("--layer", help="deepdream layer (see --list-layers)")
    g.add_argument("--guide", type=os.path.expanduser, help="guide picture for mode guide")
    g.add_argument("--guide-layer", help="layer the guide is matched at")

    v = p.add_argument_group("the views engine (the default)")
    v.add_argument("--method", choices=("views", "tiles"), help="views or tiles (the classic engine)")
    v.add_argument("--param", choices=("fourier", "pixel"), help="how the dreamt detail is written")
    v.add_argument("--steps", type=int, help="optimisation steps")
    v.add_argument("--lr", type=float, help="Adam's learning rate")
    v.add_argument("--strength", type=float, help="how strongly the detail shows (lower keeps more photo)")
    v.add_argument("--decay", type=float, help="the detail's 1/f^decay spectrum (higher: bigger shapes)")
    v.add_argument("--view-min", type=float, help="smallest view, as a fraction of the short side")
    v.add_argument("--view-max", type=float, help="largest view, as a fraction of the short side")
    v.add_argument("--view-coarsen", type=float, help="half the views are seen coarser, down to 1 - this")
    v.add_argument("--view-rotate", type=float, help="views turn by up to this many degrees")
    v.add_argument("--hybrid", choices=("split", "mix", "regions"),
                   help="how a hybrid's classes share the picture: regions (default: each class its own "
                        "places of the photo), mix (every class everywhere) or split")
    v.add_argument("--hybrid-steps", type=float,
                   help="each class of a hybrid beyond the first adds this share of the steps (default 0.125), "
                        "for up to --hybrid-steps-classes classes")
    v.add_argument("--hybrid-steps-classes", type=int, metavar="N",
                   help="how many classes beyond the first add --hybrid-steps (default 1: a pair and a triple 144 steps)")
    v.add_argument("--hybrid-partner", type=os.path.expanduser, metavar="MODEL",
                   help='a net that dreams a hybrid beside --model ("" none; default auto: Lite1 for Lite0)')
    v.add_argument("--hybrid-partner-turns", action="store_true", default=None,
                   help="the model and its partner take turns, one a step: a hybrid in about 60 %% of the time")
    v.add_argument("--hybrid-grow", type=float, metavar="FACTOR",
                   help="a regions hybrid's class that the checks miss gets this many times the area at "
                        "each check (default 2; 1: the regions stay as placed)")
    v.add_argument("--hybrid-floor", type=float, metavar="SHARE",
                   help="every class of a regions hybrid paints this share of the picture everywhere, split "
                        "between the classes, so the creatures run into each other (default 0.3; 0.1 until "
                        "session 24: crisper seams, less of the photo kept)")
    v.add_argument("--work-pixels", type=int, help="optimise at up to this many pixels, then enlarge")
    v.add_argument("--stop-seen", type=float, metavar="SHARE",
                   help="stop before --steps once the net sees every class in this share of degraded "
                        "crops (0: never; --steps stays the cap)")
    v.add_argument("--stop-every", type=int, metavar="N", help="check whether every class is seen every N steps")

    s = p.add_argument_group("the tiles engine (--method tiles, preset classic)")
    s.add_argument("--iterations", "-i", type=int, help="steps per octave")
    s.add_argument("--octaves", type=int, help="number of scales")
    s.add_argument("--octave-scale", type=float, help="size ratio between octaves")
    s.add_argument("--sigma-start", type=float, help="blur sigma at each octave's first step (pixels)")
    s.add_argument("--sigma-end", type=float, help="blur sigma at each octave's last step")
    s.add_argument("--step-start", type=float, help="step size at each octave's first step (0..255 pixel units)")
    s.add_argument("--step-end", type=float, help="step size at each octave's last step")
    s.add_argument("--jitter", type=int, help="random shift per step (pixels)")
    s.add_argument("--gradient", choices=("laplacian", "mean"), help="gradient normalisation (mean = the original's)")
    s.add_argument("--seed", type=int, help="same seed, same picture (default: random, recorded)")

    t = p.add_argument_group("tiles and device")
    t.add_argument("--tile-size", type=int, help="tile side (default: the net's input size)")
    t.add_argument("--tile-overlap", type=float, help="fraction of a tile shared with its neighbour")
    t.add_argument("--batch-size", type=int, help="tiles per forward/backward")
    t.add_argument("--max-pixels", type=int, help="downscale photos larger than this")
    t.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")

    a = p.add_argument_group("animation")
    a.add_argument("--frames", type=int, help="dive animation with this many frames")
    a.add_argument("--zoom", type=float, help="zoom per frame")
    a.add_argument("--rotate", type=float, help="rotation per frame (degrees)")
    a.add_argument("--start-frame", type=int, default=0, help="resume a dive at this frame")

    o = p.add_argument_group("output and listing")
    o.add_argument("--format", choices=("jpg", "png", "webp"), help="format when --output is a folder (default: jpg)")
    o.add_argument("--save-steps", action="store_true", help="also save a picture after every step")
    o.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    o.add_argument("--list-models", action="store_true", help="list the networks and exit")
    o.add_argument("--list-layers", action="store_true", help="list the model's layers and exit")
    o.add_argument("--list-classes", nargs="?", const="", metavar="QUERY", help="list classes (matching QUERY) and exit")
    o.add_argument("--list-groups", action="store_true", help="list class groups for --group and exit")
    o.add_argument("--classify", type=user_path, metavar="PHOTO", help="what the net sees in PHOTO: its top 5 classes, then exit")
    cli_info.add_defaults_to_help(p, RECIPE_FLAGS)
    cli_dive.add_arguments(p)
    cli_batch.add_arguments(p)
    return p
