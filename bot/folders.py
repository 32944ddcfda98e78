"""The folders and lists a config names outside itself: which the bot makes, which are wrong.

The bot owns its data folder, its outbox, the folder of a folder source that consumes (it files
photos under done/ and failed/ there) and a URL list (made with a comment saying what goes in
it). Missing, these are made when the bot starts (`run`, `--once`), and `check-config` lists
them as "to make" instead of refusing the file: a copied example runs as it is. What cannot be
made, what is in the way, and the folder of a source that only reads (consume = false: someone
else's folder, or a mount not there yet) are the problems.

Everything here reads the file's table (or a config's `model_dump()`), not a validated Config,
so a file with schema errors still gets these lines in the same pass.

The data folder holds what others must not read (the database with requests and direct
messages, requesters' photos and their dreams): the bot makes it 0700 (`private_dir`) and
its private files 0600 (`private_file`), whatever the umask; `data_dir_problem` says when an
existing one is open to others.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

URL_LIST_TEMPLATE = ("# One photo URL per line; text after the URL (and a space) is its title.\n"
                     "# https://photos.example/harbour.jpg  The harbour at dawn, by Jo (CC BY 4.0)\n")


@dataclass(frozen=True)
class Owned:
    """A folder (or URL list) the bot makes when it is missing."""

    key: str    # the config key naming it, e.g. "sources[0].path"
    path: Path
    what: str   # e.g. "the folder of source inbox"
    is_list: bool = False


@dataclass(frozen=True)
class SourcePath:
    index: int
    name: str
    kind: str  # "folder" or "urls"
    path: Path
    consume: bool


def resolve(base: Path, raw: str) -> Path:
    p = Path(os.path.expanduser(raw))
    return p if p.is_absolute() else (base / p).resolve()


def table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _usable(raw: Any) -> bool:
    return isinstance(raw, str) and "\x00" not in raw  # other values are the schema's to report


def source_paths(data: Mapping[str, Any], base: Path) -> list[SourcePath]:
    """Each folder or urls source that names a path."""
    out = []
    srcs = data.get("sources")
    for i, sec in enumerate(srcs if isinstance(srcs, list) else []):
        if not isinstance(sec, Mapping) or sec.get("type") not in ("folder", "urls"):
            continue
        if _usable(path := sec.get("path")):
            name = sec.get("name") if isinstance(sec.get("name"), str) else f"{sec['type']}-{i + 1}"
            out.append(SourcePath(i, name, sec["type"], resolve(base, path), sec.get("consume", True) is not False))
    return out


def written_dirs(data: Mapping[str, Any], base: Path) -> list[tuple[str, Path]]:
    """(key, folder) of each folder the bot writes: data, outbox, shared pictures."""
    bot, pubs, queue = (table(data, k) for k in ("bot", "publishers", "queue"))
    outbox = table(pubs, "outbox")
    data_dir = bot.get("data_dir", "data")
    raw = [("bot.data_dir", data_dir)]
    if outbox.get("enabled", True) is True and outbox.get("path"):
        raw.append(("publishers.outbox.path", outbox["path"]))  # by default it lies in data_dir
    if queue.get("shared_dir"):
        raw.append(("queue.shared_dir", queue["shared_dir"]))
    return [(key, resolve(base, value)) for key, value in raw if _usable(value)]


def owned(data: Mapping[str, Any], config_path: Path) -> list[Owned]:
    """Everything the bot makes when missing, in the order it is made."""
    base = config_path.resolve().parent
    items = [Owned(key, path, {"bot.data_dir": "the data folder", "publishers.outbox.path": "the outbox",
                               "queue.shared_dir": "the shared pictures folder"}[key])
             for key, path in written_dirs(data, base)]
    outbox = table(table(data, "publishers"), "outbox")
    data_dir = table(data, "bot").get("data_dir", "data")
    if outbox.get("enabled", True) is True and not outbox.get("path") and _usable(data_dir):
        items.append(Owned("publishers.outbox.path", resolve(base, data_dir) / "outbox", "the outbox"))
    for s in source_paths(data, base):
        if s.kind == "urls":
            items.append(Owned(f"sources[{s.index}].path", s.path, f"the URL list of source {s.name}", True))
        elif s.consume:
            items.append(Owned(f"sources[{s.index}].path", s.path, f"the folder of source {s.name}"))
    return items


def to_make(data: Mapping[str, Any], config_path: Path) -> list[Owned]:
    """What the bot will make when it starts: missing, and nothing stops it being made."""
    return [o for o in owned(data, config_path) if not os.path.lexists(o.path)
            and writable_dir_problem(o.path.parent if o.is_list else o.path) is None]


def make_missing(data: Mapping[str, Any], config_path: Path) -> list[Owned]:
    """Make what `to_make` lists (never touching what exists); OSError if one cannot be made."""
    made = []
    for o in to_make(data, config_path):
        if o.is_list:
            o.path.parent.mkdir(parents=True, exist_ok=True)
            with open(o.path, "x", encoding="utf-8") as f:  # "x": never over a list made meanwhile
                f.write(URL_LIST_TEMPLATE)
        elif o.key == "bot.data_dir":
            private_dir(o.path)
        else:
            o.path.mkdir(parents=True, exist_ok=True)
        made.append(o)
    return made


def private_dir(path: Path) -> Path:
    """`path` made (with its parents) readable by this user only, when it is missing."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode is cut by the umask only, never widened: be exact
    return path


def private_file(path: Path) -> Path:
    """`path` created empty with mode 0600 when missing, or made 0600 when this user owns it
    (SQLite gives its -wal and -shm files the mode of the database)."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
    return path


def data_dir_problem(path: Path) -> str | None:
    """A warning when an existing data folder lets other users in, else None."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return None
    if mode & 0o077:
        return (f"the data folder {path} is open to other users (mode {mode:o}) and holds requests, direct "
                f"messages and requesters' photos: chmod 700 {path} (serve an outbox from outside it)")
    return None


def made_line(o: Owned) -> str:
    """What the log says about something the bot made."""
    return f"made {o.what} {o.path}" + (": add photo URLs to it, one a line" if o.is_list else "")


def init_folders(data: Mapping[str, Any], config_path: Path) -> list[Path]:
    """`init`: what the bot would make, and also the folders of sources that only read."""
    made = [o.path for o in make_missing(data, config_path)]
    for s in source_paths(data, config_path.resolve().parent):
        if s.kind == "folder" and not os.path.lexists(s.path):
            s.path.mkdir(parents=True)
            made.append(s.path)
    return made


def writable_dir_problem(path: Path) -> str | None:
    """Why the bot could not make or write in this folder, or None."""
    if path.exists():
        if not path.is_dir():
            return f"{path} is a file, not a folder; point it at a folder (made if missing)"
        if not os.access(path, os.W_OK | os.X_OK):
            return f"the folder {path} is not writable by this user"
        return None
    above = path.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        return f"{path} cannot be made: {above} is a file, not a folder"
    if not os.access(above, os.W_OK | os.X_OK):
        return f"{path} cannot be made: {above} is not writable by this user"
    return None


_OWN_WHAT = {"bot.data_dir": "the bot keeps its state, requests and dreams there",
             "publishers.outbox.path": "the bot writes its dreams there",
             "queue.shared_dir": "the bot and its workers keep requesters' photos and dreams there"}


def own_folder_problems(data: Mapping[str, Any], base: Path) -> list[str]:
    """Folder sources over a folder the bot writes (data, outbox, shared pictures): the source
    would dream the bot's own pictures and, consuming, move its files under done/. Paths are
    compared with symlinks resolved where they exist. A source above such a folder is fine (it
    reads only the files directly in its own folder) unless it files its photos there."""
    problems = []
    # A file where a folder goes is refused on its own (writable_dir_problem): one line is enough.
    written = [(key, Path(os.path.realpath(path))) for key, path in written_dirs(data, base)
               if path.is_dir() or not os.path.lexists(path)]
    for s in source_paths(data, base):
        if s.kind != "folder":
            continue
        src = Path(os.path.realpath(s.path))
        for key, own in written:
            if how := _overlap(src, own, s.consume, key):
                problems.append(f"sources[{s.index}].path: the folder {src} of source {s.name} "
                                + how.format(key=f"{key} ({own})")
                                + f": {_OWN_WHAT[key]}, and a source there dreams the bot's own pictures "
                                "or moves files among them; point the source at a folder of its own, outside it")
                break  # one line a source: the first of the bot's folders it falls on
    return problems


def shared_source_problems(data: Mapping[str, Any], base: Path) -> list[str]:
    """Folder sources on one folder: both would read the same photos and, consuming, move them
    from under each other. A source on the done/ or failed/ of a consuming one reads again
    what that one filed. Any other folder below a source's is its own: a source reads only
    the files directly in its folder."""
    folders = [(s, Path(os.path.realpath(s.path))) for s in source_paths(data, base) if s.kind == "folder"]
    problems = []
    for n, (b, pb) in enumerate(folders):
        for a, pa in folders[:n]:
            if pa == pb:
                moved = " and, as consume = true, move them from under each other" if a.consume or b.consume else ""
                problems.append(f"sources[{b.index}].path: source {b.name} and source {a.name} (sources[{a.index}]) "
                                f"both read the folder {pb}: both would read the same photos{moved}; give each "
                                "source a folder of its own")
                continue
            for filer, pf, reader, pr in ((a, pa, b, pb), (b, pb, a, pa)):
                if filer.consume and pr in (pf / "done", pf / "failed"):
                    again = " and move them" if reader.consume else ""
                    problems.append(f"sources[{reader.index}].path: the folder {pr} of source {reader.name} is "
                                    f"where source {filer.name} (sources[{filer.index}], consume = true) files the "
                                    "photos it took: "
                                    f"{reader.name} would read them again{again}; point it at a folder outside "
                                    f"{filer.name}'s done/ and failed/")
    return problems


# What the bot writes inside its data folder (bot.pipeline, bot.requests.dreaming,
# bot.kept_photos, the default outbox). A source beside them, "data/inbox" (a container's one
# writable volume), is fine: a folder source reads only its own folder, not those.
DATA_SUBFOLDERS = frozenset({"dreams", "requests", "remix", "outbox"})


def _overlap(src: Path, own: Path, consume: bool, key: str) -> str | None:
    """How the source folder `src` falls on the bot's folder `own` (named `key`; a phrase with
    {key} for that folder), or None."""
    if src == own:
        return "is {key}"
    if src.is_relative_to(own) and (key != "bot.data_dir" or src.relative_to(own).parts[0] in DATA_SUBFOLDERS):
        return "lies inside {key}"
    # Consuming, the source moves each photo it took to its done/ or failed/ (bot.store.Filing).
    if consume and any(own.is_relative_to(src / f) for f in ("done", "failed")):
        return "moves the photos it took into its done/ and failed/, where lies {key}"
    return None


def source_problems(data: Mapping[str, Any], base: Path, config: Path | None = None) -> list[str]:
    """Sources whose folder or list is unusable and will not be made by the bot."""
    problems = []
    for s in source_paths(data, base):
        key, path, name = f"sources[{s.index}].path", s.path, s.name
        if s.kind == "folder":
            if not path.exists():
                if not s.consume:  # someone else's folder (or a mount): the bot does not make it
                    problems.append(f"{key}: the folder {path} of source {name} does not exist; this source "
                                    "only reads it (consume = false), so the bot does not make it: create it, "
                                    f"or run `python run_bot.py init --config {config or '<this file>'}`")
                elif why := writable_dir_problem(path):
                    problems.append(f"{key}: the folder of source {name}: {why}")
            elif not path.is_dir():
                problems.append(f"{key}: {path} of source {name} is a file; a folder source needs a folder")
            elif not os.access(path, os.R_OK | os.X_OK | (os.W_OK if s.consume else 0)):
                need = "read and write (done/ and failed/ go in it)" if s.consume else "read"
                problems.append(f"{key}: this user cannot {need} the folder {path} of source {name}")
        elif not path.exists():
            if why := writable_dir_problem(path.parent):
                problems.append(f"{key}: the URL list {path} of source {name} cannot be made: {why}")
        elif not path.is_file():
            problems.append(f"{key}: {path} of source {name} is a folder; a urls source needs a text file")
        else:
            try:
                path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{key}: cannot read the URL list {path} of source {name}: {exc}")
    return problems
