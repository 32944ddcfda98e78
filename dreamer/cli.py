"""`dream`: the command line for the engine (everything the original dream.py did, better named)."""
from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path
from typing import Sequence

from dreamer.recipe import MODES, Recipe, RecipeError

# CLI flag -> recipe field, for options that map one to one.
_RECIPE_FLAGS = {
    "model": "model", "weights": "weights", "mode": "mode", "layer": "layer", "guide": "guide",
    "guide_layer": "guide_layer", "iterations": "iterations", "octaves": "octaves",
    "octave_scale": "octave_scale", "sigma_start": "sigma_start", "sigma_end": "sigma_end",
    "step_start": "step_start", "step_end": "step_end", "jitter": "jitter", "tile_size": "tile_size",
    "tile_overlap": "tile_overlap", "batch_size": "batch_size", "seed": "seed", "frames": "frames",
    "zoom": "zoom", "rotate": "rotate", "max_pixels": "max_pixels", "gradient": "gradient",
    "method": "method", "param": "param", "steps": "steps", "lr": "learning_rate", "strength": "strength",
    "decay": "decay", "view_min": "view_min", "view_max": "view_max", "view_coarsen": "view_coarsen",
    "view_rotate": "view_rotate", "hybrid": "hybrid", "work_pixels": "work_pixels",
}
OUTPUT_EXTS = (".jpg", ".jpeg", ".png", ".webp")


class CliError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dream",
        description="Lucid-dream ImageNet classes (or a layer, or a guide picture) into photos.",
        epilog='example: dream photos/rocket.jpg --classes "goldfish, stingray:0.5" -o out/',
    )
    p.add_argument("inputs", nargs="*", type=Path, help="photo(s) to dream over")
    p.add_argument("-o", "--output", type=Path, help="output file (.jpg/.png/.webp) or folder (default: out/)")
    p.add_argument("--recipe", type=Path, help="recipe file (TOML or JSON, or a picture's .json sidecar); flags override it")
    p.add_argument("--preset", help="named recipe to start from: subtle, default, wild or classic (the earlier tiles engine); --recipe and flags override it")
    p.add_argument("--save-recipe", type=Path, help="write the effective recipe to this file and continue")

    g = p.add_argument_group("what to dream")
    g.add_argument("--model", help="network (see --list-models); default efficientnet-lite0")
    g.add_argument("--weights", help="local weights file for the model (a Caffe model's .caffemodel)")
    g.add_argument("--labels", metavar="FILE", help="class names for a model from files: one per line, JSON, or Caffe's synset_words.txt")
    g.add_argument("--mode", choices=MODES, help="default: lucid with classes, deepdream with --layer only, guide with --guide")
    g.add_argument("--classes", "-c", help='classes by name, id or range with weights: "goldfish, stingray:0.5, 1-5"')
    g.add_argument("--random-classes", type=int, metavar="N", help="dream N random classes (a mutant hybrid)")
    g.add_argument("--group", help="draw --random-classes from a group (fish, dogs, birds, ...)")
    g.add_argument("--randomise", action="store_true", help="push every class up or down at random (mode randomise)")
    g.add_argument("--layer", help="deepdream layer (see --list-layers)")
    g.add_argument("--guide", help="guide picture for mode guide")
    g.add_argument("--guide-layer", help="layer the guide is matched at")

    v = p.add_argument_group("the views engine (the default)")
    v.add_argument("--method", choices=("views", "tiles"), help="views (default) or tiles (the classic engine)")
    v.add_argument("--param", choices=("fourier", "pixel"), help="how the dreamt detail is written (default fourier)")
    v.add_argument("--steps", type=int, help="optimisation steps")
    v.add_argument("--lr", type=float, help="Adam's learning rate")
    v.add_argument("--strength", type=float, help="how strongly the detail shows (default 1; lower keeps more photo)")
    v.add_argument("--decay", type=float, help="the detail's 1/f^decay spectrum (higher: bigger shapes)")
    v.add_argument("--view-min", type=float, help="smallest view, as a fraction of the short side")
    v.add_argument("--view-max", type=float, help="largest view, as a fraction of the short side")
    v.add_argument("--view-coarsen", type=float, help="half the views are seen coarser, down to 1 - this")
    v.add_argument("--view-rotate", type=float, help="views turn by up to this many degrees")
    v.add_argument("--hybrid", choices=("split", "mix", "regions"),
                   help="how a hybrid's classes share the views: mix (default), split or regions")
    v.add_argument("--work-pixels", type=int, help="optimise at up to this many pixels, then enlarge")

    s = p.add_argument_group("the tiles engine (--method tiles, preset classic)")
    s.add_argument("--iterations", "-i", type=int, help="steps per octave")
    s.add_argument("--octaves", type=int, help="number of scales")
    s.add_argument("--octave-scale", type=float, help="size ratio between octaves")
    s.add_argument("--sigma-start", type=float, help="blur sigma at each octave's first step (pixels)")
    s.add_argument("--sigma-end", type=float, help="blur sigma at each octave's last step")
    s.add_argument("--step-start", type=float, help="step size at each octave's first step (0..255 pixel units)")
    s.add_argument("--step-end", type=float, help="step size at each octave's last step")
    s.add_argument("--jitter", type=int, help="random shift per step (pixels)")
    s.add_argument("--gradient", choices=("laplacian", "mean"), help="gradient normalisation (default laplacian; mean = the original's)")
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
    o.add_argument("--format", choices=("jpg", "png", "webp"), default="jpg", help="format when --output is a folder")
    o.add_argument("--save-steps", action="store_true", help="also save a picture after every step")
    o.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    o.add_argument("--list-models", action="store_true", help="list the networks and exit")
    o.add_argument("--list-layers", action="store_true", help="list the model's layers and exit")
    o.add_argument("--list-classes", nargs="?", const="", metavar="QUERY", help="list classes (matching QUERY) and exit")
    o.add_argument("--list-groups", action="store_true", help="list class groups for --group and exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("dream: interrupted", file=sys.stderr)
        return 130
    except (CliError, RecipeError, ValueError, OSError) as exc:
        print(f"dream: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - never a traceback for the user; keep the type
        from models import ModelError

        if isinstance(exc, ModelError):
            print(f"dream: error: {exc}", file=sys.stderr)
            return 2
        if os.environ.get("DREAM_DEBUG"):
            raise
        print(f"dream: internal error ({type(exc).__name__}): {exc} (set DREAM_DEBUG=1 for details)", file=sys.stderr)
        return 1


def run(args: argparse.Namespace) -> int:
    recipe = make_recipe(args)
    if args.list_models:
        from models import list_models

        for name, desc in list_models().items():
            print(f"{name:22s} {desc}")
        return 0
    if args.list_layers or args.list_classes is not None or args.list_groups:
        return list_things(args, recipe)
    if args.save_recipe:
        recipe.save(args.save_recipe)
    if not args.inputs:
        raise CliError("no input photo given (try: dream photos/rocket.jpg --classes goldfish)")
    from dreamer.image_io import load_image, save_image
    from dreamer.shape import check_shape

    outputs = plan_outputs(args.inputs, args.output, args.format, recipe.frames > 1)
    for src, dst in zip(args.inputs, outputs):
        image = load_image(src, max_pixels=recipe.max_pixels)
        check_shape(*image.size, what=str(src))
        if recipe.frames > 1:
            render_dive(image, recipe, dst, args)
        else:
            result = render_one(image, recipe, dst, args)
            save_image(result, dst, recipe_metadata(recipe, src))
            print(dst)
    return 0


def make_recipe(args: argparse.Namespace) -> Recipe:
    base = {}
    if args.preset:
        from dreamer.presets import PRESETS, preset

        preset(args.preset)  # an unknown name fails here, listing the presets
        base = dict(PRESETS[args.preset])
    if args.recipe:
        base.update(Recipe.load(args.recipe).to_dict())
    for flag, key in _RECIPE_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            base[key] = value
    if args.randomise:
        base["mode"] = "randomise"
    if args.classes is not None or args.random_classes:
        base["classes"] = pick_classes(args, base.get("model", Recipe.model))
    if args.recipe is None and args.mode is None and not args.randomise:
        if base.get("guide"):
            base["mode"] = "guide"
        elif base.get("layer") and not base.get("classes") and not args.randomise:
            base["mode"] = "deepdream"
    if base.get("seed") is None:
        base["seed"] = random.SystemRandom().randrange(2**31)  # recorded, so still reproducible
    return Recipe.from_dict(base)


def pick_classes(args: argparse.Namespace, model: str) -> dict[str, float]:
    classes: dict[str, float] = {}
    if args.classes:
        from models.labels import imagenet, parse_class_spec

        labels = _labels_for(model, args.weights, args.labels) or imagenet()
        for cid, w in parse_class_spec(args.classes, labels).items():
            classes[str(cid)] = w
    if args.random_classes:
        if not 1 <= args.random_classes <= 10:
            raise CliError("--random-classes must be 1..10")
        labels = _labels_for(model, args.weights, args.labels)
        if labels is None:
            from models.labels import imagenet

            labels = imagenet()
        pool = labels.group(args.group) if args.group else list(range(len(labels)))
        rng = random.Random(args.seed)
        for cid in rng.sample(pool, min(args.random_classes, len(pool))):
            classes[str(cid)] = 1.0
        print("classes: " + " × ".join(labels.name(int(c)) for c in classes), file=sys.stderr)
    return classes


def _labels_for(model: str, weights: str | None, labels: str | None = None):
    if labels:  # --labels: the user's file beats whatever the model brings
        from models.labels import Labels

        return Labels.from_file(labels)  # a LabelsFileError is a ValueError: one clear line
    if model in ("efficientnet-lite0", "efficientnet-lite2", "googlenet", "tiny"):
        return None  # ImageNet; no need to build the net just for its labels
    from models import create_model

    net = create_model(model, weights=weights)
    if net.labels is None and net.num_classes is not None:
        # A net from files with no labels file: its classes go by id ("class 7" or "7"),
        # never by ImageNet's names, which would silently pick the wrong ids.
        from models.labels import Labels

        return Labels([f"class {i}" for i in range(net.num_classes)])
    return net.labels


def list_things(args: argparse.Namespace, recipe: Recipe) -> int:
    if args.list_layers:
        from models import create_model

        net = create_model(recipe.model, weights=recipe.weights)
        for name in net.layer_names():
            print(name + ("  (default)" if name == net.default_layer else ""))
        return 0
    labels = _labels_for(recipe.model, recipe.weights, args.labels)
    if labels is None:
        from models.labels import imagenet

        labels = imagenet()
    if args.list_groups:
        for name, ids in sorted(labels.groups.items()):
            print(f"{name:16s} {len(ids)} classes")
        return 0
    for cid, name in labels.search(args.list_classes, limit=10_000):
        print(f"{cid:4d}  {name}")
    return 0


def plan_outputs(inputs: list[Path], output: Path | None, fmt: str, dive: bool) -> list[Path]:
    if dive and output is not None and len(inputs) == 1:
        return [output]  # a dive's output is its frame folder
    folder_like = output is None or output.is_dir() or str(output).endswith(("/", os.sep)) or output.suffix == ""
    if not folder_like and len(inputs) > 1:
        raise CliError("several inputs need --output to be a folder")
    if not folder_like and not dive and output.suffix.lower() not in OUTPUT_EXTS:
        raise CliError(f"--output {output}: use a folder or a file ending in {', '.join(OUTPUT_EXTS)}")
    if not folder_like:
        return [output]
    folder = output or Path("out")
    return [folder / (f"{p.stem}_dive" if dive else f"{p.stem}_dream.{fmt}") for p in inputs]


def recipe_metadata(recipe: Recipe, source: Path | None = None) -> dict:
    meta = recipe.to_dict()
    try:
        from models.labels import imagenet, resolve_weights

        ids = resolve_weights(recipe.classes, imagenet()) if recipe.classes else {}
        meta["class_names"] = {str(i): imagenet().name(i) for i in ids}
    except Exception:  # noqa: BLE001 - names are a courtesy for readers, never a reason to fail
        pass
    if source is not None:
        meta["source"] = Path(source).name
    return meta


def _progress(args: argparse.Namespace, total_label: str, step_dir: Path | None):
    if args.quiet and step_dir is None:
        return None, None
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(desc=total_label, unit="step", file=sys.stderr, leave=False)

    def on_progress(p) -> None:
        if bar is not None:
            bar.total = p.total
            bar.set_postfix(octave=f"{p.octave + 1}/{p.octaves}", score=f"{p.score:.2f}")
            bar.update(1)
        if step_dir is not None:
            p.image().save(step_dir / f"step_{p.done:04d}.png")

    return on_progress, bar


def render_one(image, recipe: Recipe, dst: Path, args: argparse.Namespace):
    from dreamer.render import dream

    step_dir = None
    if args.save_steps:
        step_dir = dst.with_name(dst.stem + "_steps")
        step_dir.mkdir(parents=True, exist_ok=True)
    on_progress, bar = _progress(args, dst.name, step_dir)
    try:
        return dream(image, recipe, progress=on_progress, device=args.device)
    finally:
        if bar is not None:
            bar.close()


def render_dive(image, recipe: Recipe, folder: Path, args: argparse.Namespace) -> None:
    from dreamer.animate import dive

    on_progress, bar = _progress(args, folder.name, None)
    try:
        dive(image, recipe, folder, start_frame=args.start_frame, progress=on_progress,
             device=args.device, on_frame=lambda k, p: print(p))
    finally:
        if bar is not None:
            bar.close()
    (folder / "recipe.json").write_text(recipe.to_json())
    print(folder / "dive.gif")


if __name__ == "__main__":
    raise SystemExit(main())
