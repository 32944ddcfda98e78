"""The `dream` command's helpers that make no picture: listings, --classify, --help's defaults
and version, recipes read back from pictures, output names, and the progress bar."""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

from dreamer.recipe import FILE_KEYS, Mode, Recipe, RecipeError

PICTURE_EXTS = (".jpg", ".jpeg", ".png", ".webp")


# --- --help and --version ---------------------------------------------------------------------


def version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version as dist_version

        return f"dream (lucid-dream-bot) {dist_version('lucid-dream-bot')}"
    except PackageNotFoundError:
        return "dream (lucid-dream-bot) dev"


def recipe_defaults() -> dict[str, Any]:
    """Field -> the value a plain `dream` uses (the default preset's), for --help."""
    from dreamer.presets import preset

    return preset("default").to_dict()


def add_defaults_to_help(parser: argparse.ArgumentParser, flag_to_field: dict[str, str]) -> None:
    """Recipe flags default to None (so a --recipe file can be overridden only where a flag is
    given); their help still shows the value a plain run uses."""
    defaults = recipe_defaults()
    for action in parser._actions:  # noqa: SLF001 - argparse has no public walk over actions
        field = flag_to_field.get(action.dest)
        if field is None or not action.help or "default" in action.help:
            continue
        value = defaults.get(field)
        if value is not None and value != {}:
            action.help += f" (default: {value})"


def presets_epilog() -> str:
    from dreamer.presets import PRESETS

    lines = ["presets (--preset NAME):"]
    for name, fields in PRESETS.items():
        what = ", ".join(f"{k}={v}" for k, v in fields.items()) or "the defaults shown above"
        lines.append(f"  {name:8s} {what}")
    return "\n".join(lines)


# --- --recipe from a picture ------------------------------------------------------------------


def load_recipe_arg(path: Path) -> Recipe:
    """A recipe file (TOML, JSON, a sidecar), or a picture or dive video `dream` made, whose
    metadata carries it; a file it names by its name alone is taken from beside it when the
    current folder has none of that name."""
    recipe = _read_recipe_arg(path)
    beside = {key: str(recipe_folder(path) / name) for key, name in named_files(recipe)
              if Path(name).name == name and not Path(name).is_file() and (recipe_folder(path) / name).is_file()}
    return recipe.replace(**beside) if beside else recipe


def recipe_folder(path: Path) -> Path:
    """The folder a --recipe's files lie in: the folder it is (a dive's frames), else its file's."""
    return path if path.is_dir() else path.parent


def named_files(recipe: Recipe) -> list[tuple[str, str]]:
    """(key, path) of every file `recipe` names: the model and hybrid partner only when the net is
    imported from a file."""
    from models.registry import is_file_model

    data = recipe.to_dict()
    return [(key, os.fspath(value)) for key in FILE_KEYS if (value := data.get(key))
            and (key in ("weights", "guide") or is_file_model(value))]


def missing_file(key: str, path: str, recipe: Path | None) -> str:
    """The error for a missing file `path` of `key`; `recipe`: the --recipe that named it. The
    bot's posts name their files without the folders (the operator's), so a bare name says where
    to put the file, or which flag names it instead."""
    line = f"no {key.replace('_', ' ')} file {path}"
    if recipe is None or Path(path).name != path:
        return line
    return (f"{line} in the current folder or beside {recipe}: its recipe names the file without its folder "
            f"(as the bot's published dreams do); pass --{key.replace('_', '-')} FILE, or put {path} in "
            f"{recipe_folder(recipe)}")


def _read_recipe_arg(path: Path) -> Recipe:
    from dreamer.video import VIDEO_FORMATS

    if path.is_dir():
        # A dive's frame folder keeps its recipe as recipe.json.
        if (path / "recipe.json").is_file():
            return Recipe.load(path / "recipe.json")
        raise RecipeError(f"--recipe {path} is a folder with no recipe.json in it; name a recipe file "
                          "or a picture dream made")
    if path.suffix.lower() in VIDEO_FORMATS:
        return _video_recipe(path)
    if path.suffix.lower() not in PICTURE_EXTS:
        return Recipe.load(path)
    from dreamer.image_io import read_embedded_recipe, sidecar_path

    if not path.is_file():
        raise RecipeError(f"cannot read recipe {path}: no such file")
    data = read_embedded_recipe(path)
    if data is None:
        side = sidecar_path(path)
        if side.is_file():
            return Recipe.load(side)
        raise RecipeError(f"{path} carries no recipe (it was not made by dream, or its metadata "
                          "was stripped); pass its .json sidecar or a recipe file instead")
    try:
        return Recipe.from_dict(data)
    except RecipeError as exc:
        raise RecipeError(f"{path}: {exc}") from None


def _video_recipe(path: Path) -> Recipe:
    from dreamer.image_io import sidecar_path
    from dreamer.video import read_video_metadata

    if not path.is_file():
        raise RecipeError(f"cannot read recipe {path}: no such file")
    doc = read_video_metadata(path)
    if doc is None or not isinstance(doc.get("recipe"), dict):
        if sidecar_path(path).is_file():
            return Recipe.load(sidecar_path(path))
        raise RecipeError(f"{path} carries no recipe (it was not made by dream, or its metadata "
                          "was stripped); pass its .json sidecar or a recipe file instead")
    try:
        return Recipe.from_dict(doc["recipe"])
    except RecipeError as exc:
        raise RecipeError(f"{path}: {exc}") from None


# --- output names -------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def dream_label(recipe: Recipe) -> str:
    """What was dreamt, for a file name: class names joined by '+', else the layer or 'guide'."""
    if recipe.classes:
        names = []
        try:
            from models.labels import imagenet, resolve_weights

            ids = resolve_weights(recipe.classes, imagenet())
            names = [imagenet().name(i) for i in ids]
        except Exception:  # noqa: BLE001 - a net from files: ids are names enough
            names = [str(c) for c in recipe.classes]
        label = "+".join(_slug(n) for n in names[:3]) + ("+more" if len(names) > 3 else "")
    elif Mode(recipe.mode) is Mode.GUIDE:
        label = "guide"
    else:
        label = _slug(recipe.layer or recipe.mode)
    return label[:60] or "dream"


def unique_path(path: Path, taken: set[Path] | frozenset[Path] = frozenset()) -> Path:
    """`path`, or path-2, path-3 ... when something is there already, or in `taken` (named for
    another photo of the same run): a dream is never lost."""
    from dreamer.image_io import sidecar_path

    dive = path.suffix == "" or path.name.endswith("_dive")

    def used(p: Path) -> bool:
        # A picture's recipe goes to <stem>.json: an earlier dream of the same name in another
        # format owns that sidecar, and writing ours would replace its recipe.
        return p.exists() or p in taken or (not dive and sidecar_path(p).exists())

    if not used(path):
        return path
    suffix = "" if dive else path.suffix
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    n = 2
    while used(candidate := path.with_name(f"{stem}-{n}{suffix}")):
        n += 1
    return candidate


# A file name holds 255 bytes; an output's is kept to this, leaving room for the temporary name it
# is saved through (".<name>.1a2b3c4d.tmp") and a "-2": a photo's long name made a dream's name too
# long, and the dream was lost at saving it ("File name too long").
NAME_BYTES = 200


def default_output(folder: Path, source: Path, recipe: Recipe, fmt: str, dive: bool,
                   reuse: bool = False, taken: set[Path] | frozenset[Path] = frozenset()) -> Path:
    """<photo>_<classes>_s<seed>.<fmt> (or _dive/): the seed in the name keeps a random dream
    findable, and a second run never overwrites the first, nor one photo's dream another's of
    the same name in `taken`. `reuse` (a resumed dive) takes the name as it is."""
    tail = f"_{dream_label(recipe)}_s{recipe.seed}"
    base = _clip(source.stem, NAME_BYTES - len(f"{tail}_dive".encode())) + tail
    path = folder / (f"{base}_dive" if dive else f"{base}.{fmt}")
    return path if reuse else unique_path(path, taken)


def _clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` bytes of UTF-8, never inside a character."""
    return text.encode("utf-8")[:max(limit, 1)].decode("utf-8", "ignore")


# --- progress ---------------------------------------------------------------------------------


class DiveProgress:
    """One bar over a whole dive: "frame k/N" and a total that holds across the frames
    (each frame's dream counts its own steps from 1)."""

    def __init__(self, bar: Any, frames: int, start_frame: int = 0):
        self.bar = bar
        self.frames = frames
        self.frame = start_frame
        self.remaining = frames - start_frame
        self._last_done = 0

    def __call__(self, p: Any) -> None:
        if self._last_done == 0 or p.done <= self._last_done:  # a new frame's dream began
            self.frame += 1
        self._last_done = p.done
        self.bar.total = p.total * self.remaining
        self.bar.set_description(f"frame {self.frame}/{self.frames}", refresh=False)
        self.bar.set_postfix(octave=f"{p.octave + 1}/{p.octaves}", score=f"{p.score:.2f}", refresh=False)
        self.bar.update(1)


def make_progress(quiet: bool, label: str, step_dir: Path | None = None, frames: int = 1,
                  start_frame: int = 0) -> tuple[Callable[[Any], None] | None, Any]:
    if quiet and step_dir is None:
        return None, None
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(desc=label, unit="step", file=sys.stderr, leave=False)
    if frames > 1 and bar is not None:
        return DiveProgress(bar, frames, start_frame), bar

    def on_progress(p: Any) -> None:
        if bar is not None:
            bar.total = p.total
            bar.set_postfix(octave=f"{p.octave + 1}/{p.octaves}", score=f"{p.score:.2f}")
            bar.update(1)
        if step_dir is not None:
            p.image().save(step_dir / f"step_{p.done:04d}.png")

    return on_progress, bar


# --- listings and --classify ------------------------------------------------------------------


def list_layers(model: str, weights: str | None) -> list[tuple[str, bool]]:
    """(name, is_default) for the model's layers. GoogLeNet's names come from its architecture,
    so they are listed without its weights."""
    if model == "googlenet" and not weights:
        from models.googlenet import build_googlenet

        net = build_googlenet(pretrained=False)
    else:
        from models import create_model

        net = create_model(model, weights=weights)
    return [(name, name == net.default_layer) for name in net.layer_names()]


def format_groups(groups: dict[str, list[int]]) -> list[str]:
    width = max((len(n) for n in groups), default=0) + 2
    return [f"{name:{width}s}{len(ids):4d} classes" for name, ids in sorted(groups.items())]


def classify(photo: Path, model: str, weights: str | None, labels: Any, device: str = "auto",
             top: int = 5) -> list[tuple[int, str, float]]:
    """What the net sees in the photo: its `top` classes as (id, name, probability)."""
    import torch

    from dreamer.image_io import load_image
    from dreamer.render import pick_device
    from models import create_model

    net = create_model(model, weights=weights)
    dev = pick_device(device)
    net.to(dev)
    image = load_image(photo).convert("RGB")
    # The whole photo squeezed to the net's input: what a viewer sees, not a centre crop.
    image = image.resize((net.input_size, net.input_size))
    x = torch.from_numpy(__import__("numpy").asarray(image, dtype="float32") / 255.0)
    x = x.permute(2, 0, 1).unsqueeze(0).to(dev)
    with torch.no_grad():
        probs = torch.softmax(net.module(net.normalise(x)).float(), dim=1)[0].cpu()
    if labels is not None and len(labels) != probs.numel():
        # Past the file's end a name raised "class id 180 is out of range: this model has 2 classes".
        raise ValueError(f"the labels file names {len(labels)} classes, but model {model!r} has {probs.numel()}: "
                         "give --labels a file with one name for each of its classes")
    values, ids = probs.topk(min(top, probs.numel()))
    names = labels or net.labels
    return [(int(i), names.name(int(i)) if names is not None else f"class {int(i)}", float(v))
            for v, i in zip(values, ids)]
