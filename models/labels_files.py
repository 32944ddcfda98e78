"""Labels files: one class per line (Caffe's synset_words.txt among them) or JSON (the format
of the bundled ImageNet file), read into a `Labels` (`Labels.from_file` calls `read_labels`).

This module knows the formats and `models.labels` knows the class: `read_labels` is handed the
class to build, so neither imports the other."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, TypeVar

from models.labels_base import WNID, LabelsFileError, split_names

L = TypeVar("L")


def read_labels(path: str | Path, make: Callable[..., L]) -> L:
    """A labels file as the label set `make` builds from its `Labels` arguments; every error,
    the file's or `make`'s, comes back as `LabelsFileError` naming the file (the formats are
    in `Labels.from_file`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise LabelsFileError(f"cannot read labels file {path}: {e}") from None
    try:
        if path.suffix.lower() == ".json" or text.lstrip()[:1] in ("[", "{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"not valid JSON ({e})") from None
            return make(**labels_from_json(data))
        return make(**labels_from_text(text))
    except (ValueError, TypeError) as e:
        raise LabelsFileError(f"labels file {path}: {e}") from None


def labels_from_text(text: str) -> dict[str, Any]:
    """The `Labels` arguments of a text labels file."""
    synonyms, wnids = [], []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head, _, rest = line.partition(" ")
        if WNID.fullmatch(head) and rest.strip():
            wnids.append(head)
            line = rest
        elif wnids:
            raise ValueError(f"line {number} has no WordNet id but earlier lines do")
        if not split_names(line):
            raise ValueError(f"line {number} has no class name")
        synonyms.append(line)
    if wnids and len(wnids) != len(synonyms):
        raise ValueError("only some lines start with a WordNet id")
    if not synonyms:
        raise ValueError("no classes in it")
    return {"synonyms": synonyms, "wnids": wnids or None}


def labels_from_json(data: object) -> dict[str, Any]:
    """The `Labels` arguments of a JSON labels file's contents."""
    groups = group_aliases = None
    if isinstance(data, dict):
        if "classes" not in data:
            raise ValueError('a JSON object needs a "classes" list')
        groups, group_aliases = data.get("groups"), data.get("group_aliases")
        data = data["classes"]
    if not isinstance(data, list) or not data:
        raise ValueError("expected a non-empty JSON list of classes")
    if all(isinstance(c, dict) for c in data):
        for i, c in enumerate(data):
            if "id" in c and c["id"] != i:
                raise ValueError(f"entry {i} has id {c['id']}: classes must be in id order")
        has_wnids = all("wnid" in c for c in data)
        return {"synonyms": [c.get("synonyms", []) for c in data],
                "wnids": [c["wnid"] for c in data] if has_wnids else None,
                "aliases": [c.get("aliases", []) for c in data],
                "groups": groups, "group_aliases": group_aliases}
    for i, c in enumerate(data):
        if not (isinstance(c, str) or (isinstance(c, list)
                                       and all(isinstance(s, str) for s in c))):
            raise ValueError(f"entry {i} is neither a string nor a list of strings")
    return {"synonyms": data, "groups": groups, "group_aliases": group_aliases}
