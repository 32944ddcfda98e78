"""What the `dream` command's modules share: its error for a mistake on the command line, and
the metadata a dreamt picture carries. A leaf: `cli` and its subcommands (`cli_batch`,
`cli_dive`) import it, it imports none of them."""
from __future__ import annotations

from pathlib import Path

from dreamer.recipe import Recipe


class CliError(Exception):
    pass


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
