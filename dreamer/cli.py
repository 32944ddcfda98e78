"""`dream`: the command line for the engine (everything the original dream.py did, better named)."""
from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path
from typing import Sequence

from dreamer import cli_batch, cli_checks, cli_dive, cli_info
from dreamer.cli_args import RECIPE_FLAGS, build_parser
from dreamer.cli_common import (CliError, check_writable, existing_folder, finish, interrupts_held, load_photo, recipe_metadata,
                                same_file)
from dreamer.recipe import Recipe, RecipeError, as_ran

OUTPUT_EXTS = (".jpg", ".jpeg", ".png", ".webp")
# Names that say a picture or a film, never a dive's folder of frames.
MOVIE_EXTS = (".gif", ".mp4", ".webm", ".mov", ".avi", ".mkv")
RECIPE_EXTS = (".toml", ".json")  # what Recipe.save writes and --recipe reads as text


def main(argv: Sequence[str] | None = None) -> int:
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            # Closed (`dream ... 2>&-`, a launcher without a console): the progress bar failed the
            # dream, and a saved one ended in an "internal error" on the last flush.
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
    try:
        with interrupts_held():
            import torch  # noqa: F401 - loaded here, where Ctrl-C waits for it (interrupts_held)
        args = build_parser().parse_args(argv)
        code = run(args)
        sys.stdout.flush()  # a reader that went away shows here, not as a warning at exit
        return code
    except BrokenPipeError:
        return quiet_broken_pipe()
    except KeyboardInterrupt as exc:  # its words, if any, say how to go on (cli_dive)
        print("dream: interrupted" + (f"; {exc}" if str(exc) else ""), file=sys.stderr)
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


def quiet_broken_pipe() -> int:
    """`dream --list-classes | head`: the reader left, which is no error of ours. Point stdout
    at /dev/null so the interpreter's last flush cannot complain, and exit like a program
    killed by SIGPIPE (128 + 13), as the shell's own tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # stdout is no file (a test's buffer): nothing left to flush
    return 141


def run(args: argparse.Namespace) -> int:
    recipe = make_recipe(args)
    if args.list_models:
        from models import list_models

        models = list_models()
        width = max(map(len, models), default=0)  # a fixed 22 pushed efficientnet-lite0+lite1's words out of line
        for name, desc in models.items():
            print(f"{name:{width}s}  {desc}")
        return 0
    if args.list_layers or args.list_classes is not None or args.list_groups:
        return list_things(args, recipe)
    if args.classify is not None:
        return classify(args, recipe)
    if not args.inputs:
        save_recipe(args, recipe, [])
        raise CliError("no input photo given (try: dream photos/rocket.jpg --classes goldfish)")
    preflight(recipe, args)
    if args.video is not None:
        save_recipe(args, recipe, [args.video])
        recipe = cli_dive.resume_seed(args, recipe)
        return cli_dive.run_video(args, recipe, recipe_metadata(recipe, args.inputs[0]))
    from dreamer.image_io import save_image

    outputs = plan_outputs(args.inputs, args.output, args.format or "jpg", recipe.video.frames > 1, recipe,
                           resume=args.start_frame > 0)
    check_outputs(args.inputs, outputs, recipe.video.frames > 1)
    save_recipe(args, recipe, [] if recipe.video.frames > 1 else outputs)
    if args.batch > 1:
        return cli_batch.render_batches(args.inputs, outputs, recipe, args)
    skipped: list[Path] = []
    for src, dst in zip(args.inputs, outputs):
        image = load_photo(src, recipe, skipped, many=len(args.inputs) > 1)
        if image is None:
            continue
        if recipe.video.frames > 1:
            cli_dive.render_frames(image, recipe, dst, args)
        else:
            result = render_one(image, recipe, dst, args)
            save_image(result, dst, recipe_metadata(as_ran(recipe, result), src))
            print(dst)
    return finish(skipped, len(args.inputs))


def preflight(recipe: Recipe, args: argparse.Namespace) -> None:
    """Every check that needs no net, before a net is loaded or a progress bar drawn: a
    mistake costs a second, not a model load (or a whole first render)."""
    recipe.validate()
    recipe.check_complete()
    cli_dive.check_args(args)
    cli_batch.check_args(args, recipe)
    frames = recipe.video.frames
    if args.start_frame and args.video is None and not (frames > 1 and 0 < args.start_frame < frames):
        # Without a dive it was ignored; below 0 it wrote frame_-0001.png and on.
        raise CliError(f"--start-frame {args.start_frame}: resumes a dive of --frames N at a frame 1..N-1"
                       + ("" if frames > 1 else "; this is no dive (add --frames N)"))
    check_photos(args.inputs)
    from models.registry import is_file_model, list_models

    if not is_file_model(recipe.model) and recipe.model not in list_models():
        raise CliError(f"unknown model {recipe.model!r}; see --list-models")
    for key, path in cli_info.named_files(recipe):
        if not Path(path).expanduser().is_file():
            # a --recipe's file, not a flag's: the error says where the recipe's files are looked for
            raise CliError(cli_info.missing_file(key, path, args.recipe if getattr(args, key) is None else None))
    from dreamer.render import pick_device

    pick_device(args.device)
    cli_checks.check_mode_flags(args, recipe)
    cli_checks.check_engine_flags(args, recipe)
    cli_checks.check_plan_flags(args, recipe)
    cli_checks.check_unused_flags(args, recipe)
    cli_checks.note_environment()


def check_photos(paths: list[Path]) -> None:
    """Photo arguments name files: a folder is no missing file (`dream photos/` does not dream
    each photo in it, so say how to)."""
    for path in paths:
        if path.is_dir():
            raise CliError(f"{path} is a folder, not a photo; name the photos in it (e.g. {path / '*.jpg'})")
    missing = [_missing(p) for p in paths if not p.is_file()]
    if missing:
        raise CliError(f"no such photo: {', '.join(missing)}")


def _missing(path: Path) -> str:
    """A missing photo's name, and why where the name alone says nothing a user can act on."""
    if str(path) == "-":
        return "- (standard input: dream reads photos from files; save it to one and name that)"
    if path.is_symlink():
        return f"{path} (a link to {os.readlink(path)}, which is not there)"
    if any(c in str(path) for c in "*?["):
        return f"{path} (no file matches this pattern)"  # the shell passes a glob that matched nothing as is
    return str(path)


def make_recipe(args: argparse.Namespace) -> Recipe:
    base = cli_dive.recipe_base(args)  # a dive's own defaults, or none
    if args.preset:
        from dreamer.presets import PRESETS, preset

        preset(args.preset)  # an unknown name fails here, listing the presets
        base.update(PRESETS[args.preset])
    if args.recipe:
        base.update(cli_info.load_recipe_arg(args.recipe).to_dict())
    for flag, key in RECIPE_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            base[key] = value
    if args.randomise:
        base["mode"] = "randomise"
    if args.classes is not None or args.random_classes is not None:
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
    if args.random_classes is not None:  # 0 too: it was no error, then 'classes is empty'
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
        for name, is_default in cli_info.list_layers(recipe.model, recipe.weights):
            print(name + ("  (default)" if is_default else ""))
        return 0
    labels = _labels_for(recipe.model, recipe.weights, args.labels)
    if labels is None:
        from models.labels import imagenet

        labels = imagenet()
    if args.list_groups:
        for line in cli_info.format_groups(labels.groups):
            print(line)
        return 0
    found = labels.search(args.list_classes, limit=10_000)
    if not found:
        print(f"dream: no class matches {args.list_classes!r}; try part of a name, an id or @group "
              "(--list-classes alone lists them all)", file=sys.stderr)
        return 1
    for cid, name in found:
        print(f"{cid:4d}  {name}")
    return 0


def classify(args: argparse.Namespace, recipe: Recipe) -> int:
    check_photos([args.classify])
    labels = _labels_for(recipe.model, recipe.weights, args.labels)
    for cid, name, prob in cli_info.classify(args.classify, recipe.model, recipe.weights, labels, args.device):
        print(f"{prob * 100:5.1f} %  {cid:4d}  {name}")
    return 0


def plan_outputs(inputs: list[Path], output: str | Path | None, fmt: str, dive: bool,
                 recipe: Recipe | None = None, resume: bool = False) -> list[Path]:
    """Each input's output. `output` as typed (a str): a Path drops the trailing slash that says
    `-o dreams.v2/` or `-o new.png/` is a folder."""
    slash = output is not None and str(output).endswith(("/", os.sep))
    output = None if output is None else Path(output)
    if dive and output is not None and len(inputs) == 1:
        return [dive_folder(output, recipe, slash)]  # a dive's output is its frame folder
    folder_like = output is None or slash or output.is_dir() or output.suffix == ""
    if not folder_like and len(inputs) > 1:
        raise CliError("several inputs need --output to be a folder")
    if not folder_like and not dive and output.suffix.lower() not in OUTPUT_EXTS:
        raise CliError(f"--output {output}: use a folder or a file ending in {', '.join(OUTPUT_EXTS)}")
    if not folder_like:
        return [output]
    folder = output or Path("out")
    recipe = recipe or Recipe()
    planned: list[Path] = []
    for p in inputs:  # two photos of one name (a/cat.jpg, b/cat.jpg) must not share an output
        planned.append(cli_info.default_output(folder, p, recipe, fmt, dive, reuse=resume, taken=set(planned)))
    return planned


def dive_folder(output: Path, recipe: Recipe | None, slash: bool = False) -> Path:
    """-o of a dive, which is a folder of frames: a picture's or a video's name made a folder of
    that name (`-o dive.jpg/frame_00000.png`) unless typed as one (`-o dive.jpg/`), and an
    existing file failed only once the net was loaded ("[Errno 17] File exists")."""
    frames = f"--frames {recipe.video.frames}" if recipe is not None else "--frames"
    if not slash and not output.is_dir() and output.suffix.lower() in (*OUTPUT_EXTS, *MOVIE_EXTS):
        raise CliError(f"--output {output} is a file's name, but {frames} makes a dive, a folder of frames: "
                       f"name a folder (-o {output.with_suffix('')}/), write a video with --video "
                       f"{output.with_suffix('.mp4')}, or dream one picture with --frames 1")
    if output.exists() and not output.is_dir():
        raise CliError(f"--output {output} is a file, but {frames} makes a dive, a folder of frames: name a folder")
    return output


def check_outputs(inputs: list[Path], outputs: list[Path], dive: bool) -> None:
    """Before any dream: refuse an output that would replace a photo being dreamt, or whose
    recipe sidecar would replace a file that is not a dream's (a photo's credits, a recipe)."""
    from dreamer.image_io import carries_recipe, check_sidecar

    for dst in outputs:
        if any(same_file(dst, src) for src in inputs):
            raise CliError(f"--output {dst} is the photo being dreamt, which it would replace; choose another name")
        folder = existing_folder("--output", dst)
        check_writable(dst if dive and dst.is_dir() else folder, "--output", dst)
        if not dive and (dst.exists() or dst.is_symlink()) and not carries_recipe(dst):
            # Only a dream is made again over: `dream a.jpg -o b.jpg` replaced the photo b.jpg
            # without a word, while its sidecar b.json was guarded (check_sidecar).
            raise CliError(f"--output {dst} is there already and is no dream (dream replaces only pictures it "
                           "made); choose another name, or move that file")
        if not dive:
            check_sidecar(dst)
        else:  # only into a folder of its own: a user's frame_00000.png or dive.gif was replaced
            cli_dive.check_frames_folder(dst)


def save_recipe(args: argparse.Namespace, recipe: Recipe, outputs: list[Path]) -> None:
    """--save-recipe, once the outputs are known to be free: where it names an output's own
    sidecar (`-o x.png --save-recipe x.json`), the sidecar written with the picture holds the
    recipe (as it ran; --recipe reads it), and writing it now would make that name look taken."""
    from dreamer.image_io import sidecar_path

    if not args.save_recipe:
        return
    if args.save_recipe.suffix.lower() not in RECIPE_EXTS:
        # Any other name was written as TOML: `--save-recipe photo.jpg` replaced a picture with text,
        # the photo being dreamt included (and that before the dream, which then failed on it).
        raise CliError(f"--save-recipe {args.save_recipe}: a recipe is TOML or JSON text; name it "
                       f"something.toml or something.json")
    if any(sidecar_path(out).resolve() == Path(args.save_recipe).resolve() for out in outputs):
        return
    recipe.save(args.save_recipe)


def render_one(image, recipe: Recipe, dst: Path, args: argparse.Namespace):
    from dreamer.render import dream

    step_dir = None
    if args.save_steps:
        step_dir = dst.with_name(dst.stem + "_steps")
        step_dir.mkdir(parents=True, exist_ok=True)
    on_progress, bar = cli_info.make_progress(args.quiet, dst.name, step_dir)
    try:
        return dream(image, recipe, progress=on_progress, device=args.device)
    finally:
        if bar is not None:
            bar.close()


if __name__ == "__main__":
    raise SystemExit(main())
