"""Class labels of a classifier: names, synonyms, forgiving lookup, groups and weight specs.

A `Labels` holds, for each class id, its synonyms (the first is the class's name), optional
WordNet id and extra aliases, plus optional named groups of ids. `imagenet()` loads the bundled
ImageNet-1k set (`models/data/imagenet_classes.json`, made by `make_imagenet_classes.py` beside
it); a custom model brings its own with `Labels.from_file`.

What `Labels.resolve` accepts, tried in this order:

* an id ("285"), or an inclusive id range ("1-5", also "1..5");
* "@group" for every class of a group ("@dogs");
* a WordNet id ("n01443537");
* a name, synonym or alias, compared after normalising both sides: case, accents, apostrophes
  (straight or curly) and any run of spaces, underscores, hyphens or punctuation are ignored, so
  "Great_White-Shark" finds "great white shark".

Ambiguous names (ImageNet's synonyms share 19 names between two classes, e.g. "crane" 134
bird / 517 machine, "maillot" 638 / 639) follow one rule: a name that is the *first* synonym of
exactly one class means that class ("partridge" is 86, not 82 ruffed grouse whose third
synonym it is; "missile" is 657, not 744 projectile); else a synonym of exactly one class;
else an alias of exactly one class. A name still shared after that (12 in ImageNet: "crane",
"maillot", "cardigan", "crawfish", "panda", "horn", "wagon", ...) is never guessed:
`AmbiguousClassError` lists every candidate with its id and its other names, so the user can
write the id or a more specific name ("construction crane", "crane bird", "tank suit").

Every error raised for user input is a `ClassSpecError` (a `ValueError`) with a message meant
for the user.
"""
from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

# The shared pieces and the class specs are offered here too: callers import them from here.
from models.class_spec import ClassSpecErrors, parse_class_spec, resolve_weights
from models.labels_base import (WNID, AmbiguousClassError, ClassSpecError, LabelsFileError,
                                UnknownClassError, UnknownGroupError, normalize, split_names)
from models.labels_files import read_labels

__all__ = ["IMAGENET_FILE", "AmbiguousClassError", "ClassSpecError", "ClassSpecErrors", "Labels",
           "LabelsFileError", "UnknownClassError", "UnknownGroupError", "imagenet", "normalize",
           "parse_class_spec", "resolve_weights"]

IMAGENET_FILE = Path(__file__).resolve().parent / "data" / "imagenet_classes.json"

_ID = re.compile(r"[+-]?\d+")
_RANGE = re.compile(r"(\d+)\s*(?:-|\u2013|\.\.)\s*(\d+)")
_MAX_SUGGESTIONS = 8


class Labels:
    """The classes of one model. Ids are 0..len-1, in the order of the model's outputs."""

    def __init__(
        self,
        synonyms: Sequence[str | Sequence[str]],
        wnids: Sequence[str] | None = None,
        *,
        aliases: Sequence[Sequence[str]] | None = None,
        groups: Mapping[str, Iterable[int]] | None = None,
        group_aliases: Mapping[str, str] | None = None,
    ) -> None:
        """`synonyms[i]` is a list of names for class i (a string is split on commas).

        `aliases[i]` are extra names that lookups accept but that are not synonyms (e.g. the
        cleaned-up name "construction crane"). `groups` maps a group name to its ids;
        `group_aliases` maps other spellings to group names.
        """
        self._synonyms = [split_names(s) for s in synonyms]
        if not self._synonyms:
            raise ValueError("a label set needs at least one class")
        for i, names in enumerate(self._synonyms):
            if not names:
                raise ValueError(f"class {i} has no name")
        n = len(self._synonyms)
        self._wnids = None
        if wnids is not None:
            self._wnids = [str(w).strip() for w in wnids]
            if len(self._wnids) != n:
                raise ValueError(f"{len(self._wnids)} WordNet ids for {n} classes")
            if len(set(self._wnids)) != n:
                raise ValueError("WordNet ids are not unique")
        self._aliases = [[] for _ in range(n)]
        if aliases is not None:
            if len(aliases) != n:
                raise ValueError(f"{len(aliases)} alias lists for {n} classes")
            # A list is kept whole: an alias may hold a comma, a string is split like synonyms.
            self._aliases = [split_names(a) if isinstance(a, str)
                             else [str(x).strip() for x in a if str(x).strip()]
                             for a in aliases]

        self._groups: dict[str, list[int]] = {}
        for name, ids in (groups or {}).items():
            ids = [int(i) for i in ids]
            bad = [i for i in ids if not 0 <= i < n]
            if bad:
                raise ValueError(f"group {name!r} has ids outside 0-{n - 1}: {bad[:5]}")
            self._groups[str(name)] = ids
        self._group_keys = {normalize(g): g for g in self._groups}
        for alias, target in (group_aliases or {}).items():
            if target not in self._groups:
                raise ValueError(f"group alias {alias!r} names no group: {target!r}")
            self._group_keys.setdefault(normalize(alias), target)

        # normalised name -> [(tier, id)]; tier 0 = first synonym, 1 = synonym, 2 = alias.
        self._index: dict[str, list[tuple[int, int]]] = {}
        for i in range(n):
            for tier, names in ((0, self._synonyms[i][:1]), (1, self._synonyms[i][1:]),
                                (2, self._aliases[i])):
                for name in names:
                    key = normalize(name)
                    if key and (tier, i) not in self._index.get(key, ()):
                        self._index.setdefault(key, []).append((tier, i))
        self._wnid_index = {w.lower(): i for i, w in enumerate(self._wnids or [])}
        self._search_keys = [[normalize(s) for s in self._synonyms[i] + self._aliases[i]]
                             for i in range(n)]

    # -- building -----------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path) -> Labels:
        """Read a labels file; every error comes back as `LabelsFileError` naming the file.

        Formats:
        * text: one class per line, in id order, synonyms separated by commas; a line may start
          with a WordNet id ("n01440764 tench, Tinca tinca", as Caffe's synset_words.txt);
          blank lines and lines starting with "#" are skipped;
        * JSON: a list of strings (each split on commas like a text line) or of lists of
          synonyms; or an object with "classes" (such a list, or objects with "synonyms" and
          optional "wnid" and "aliases") and optional "groups" and "group_aliases", the format
          of the bundled ImageNet file.
        """
        return read_labels(path, cls)  # the file formats live in models.labels_files

    # -- reading ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._synonyms)

    def __repr__(self) -> str:
        return f"<Labels: {len(self)} classes, {len(self._groups)} groups>"

    def name(self, i: int) -> str:
        """The class's primary name, its first synonym ("great white shark")."""
        return self._synonyms[self._check_id(i)][0]

    def synonyms(self, i: int) -> list[str]:
        """All synonyms of the class, the name first."""
        return list(self._synonyms[self._check_id(i)])

    def aliases(self, i: int) -> list[str]:
        """Extra names lookups accept for the class (not synonyms; may be empty)."""
        return list(self._aliases[self._check_id(i)])

    def wnid(self, i: int) -> str | None:
        """The class's WordNet id ("n01440764"), or None when the label set has none."""
        self._check_id(i)
        return self._wnids[i] if self._wnids else None

    @property
    def names(self) -> list[str]:
        """Every class's primary name, by id."""
        return [s[0] for s in self._synonyms]

    @property
    def groups(self) -> dict[str, list[int]]:
        """Group name -> ids (a copy; empty when the label set has no groups)."""
        return {g: list(ids) for g, ids in self._groups.items()}

    def group(self, name: str) -> list[int]:
        """The ids of a group, by name or alias ("dogs", "Spiders", "@sea creatures")."""
        target = self._group_keys.get(normalize(name.lstrip().lstrip("@")))
        if target is not None:
            return list(self._groups[target])
        if not self._groups:
            raise UnknownGroupError(f"unknown group {name.strip()!r}: this model's labels "
                                    "have no groups")
        close = difflib.get_close_matches(normalize(name), list(self._group_keys), n=3,
                                          cutoff=0.6)
        hint = ""
        if close:
            hint = " Did you mean " + " or ".join(
                repr(g) for g in dict.fromkeys(self._group_keys[c] for c in close)) + "?"
        raise UnknownGroupError(f"unknown group {name.strip()!r}.{hint} Groups: "
                                + ", ".join(self._groups) + ".")

    # -- lookup -------------------------------------------------------------------------

    def resolve(self, term: str) -> list[int]:
        """The ids a term means (see the module doc). Raises `UnknownClassError`."""
        if isinstance(term, bool) or not isinstance(term, (str, int)):
            raise TypeError(f"a class term is a string, not {type(term).__name__}")
        if isinstance(term, int):
            return [self._check_id(term)]
        raw = term.strip()
        if not raw:
            raise UnknownClassError("empty class name")
        if _ID.fullmatch(raw):
            return [self._check_id(int(raw), raw)]
        match = _RANGE.fullmatch(raw)
        if match:
            first, last = (self._check_id(int(x), x) for x in match.groups())
            if first > last:
                raise UnknownClassError(f"class range {raw!r} runs backwards: write "
                                        f"{last}-{first}")
            return list(range(first, last + 1))
        if raw.startswith("@"):
            return self.group(raw)
        if WNID.fullmatch(raw) and raw.lower() in self._wnid_index:
            return [self._wnid_index[raw.lower()]]

        key = normalize(raw)
        hits = self._index.get(key)
        if hits:
            best = min(tier for tier, _ in hits)
            ids = sorted({i for tier, i in hits if tier == best})
            if len(ids) == 1:
                return ids
            raise AmbiguousClassError(self._ambiguous_message(raw, key, ids),
                                      [(i, self.name(i)) for i in ids])
        raise self._unknown(raw, key)

    def search(self, query: str | None = "", limit: int | None = 20) -> list[tuple[int, str]]:
        """(id, name) of classes whose synonyms or aliases contain `query`, best first.

        Exact names rank first, then names holding the query as whole words, then names with a
        word starting with it, then any substring; ties by id. An empty query lists every class
        (`limit` ignored). An id, range, "@group" or WordNet id lists those classes.
        `limit=None` means no limit.
        """
        raw = (query or "").strip()
        if not raw:
            return list(enumerate(self.names))
        if (_ID.fullmatch(raw) or _RANGE.fullmatch(raw) or raw.startswith("@")
                or (WNID.fullmatch(raw) and raw.lower() in self._wnid_index)):
            found = [(i, self.name(i)) for i in self.resolve(raw)]
            return found if limit is None else found[:limit]
        key = normalize(raw)
        if not key:
            return []
        ranked = []
        for i in range(len(self)):
            rank = min(_match_rank(name, key) for name in self._search_keys[i])
            if rank < 4:
                ranked.append((rank, i))
        ranked.sort()
        found = [(i, self.name(i)) for _, i in ranked]
        return found if limit is None else found[:limit]

    # -- helpers ------------------------------------------------------------------------

    def _check_id(self, i: int, shown: str | None = None) -> int:
        if isinstance(i, bool) or not isinstance(i, int):
            raise TypeError(f"a class id is an int, not {type(i).__name__}")
        if not 0 <= i < len(self):
            raise UnknownClassError(f"class id {shown if shown is not None else i} is out of "
                                    f"range: this model has {len(self)} classes, ids "
                                    f"0-{len(self) - 1}")
        return i

    def _describe(self, i: int, leave_out: str = "") -> str:
        """ "134 crane (also: crane bird)" — the id, name and other names worth showing."""
        others = [s for s in self._synonyms[i][1:] + self._aliases[i]
                  if normalize(s) not in (leave_out, normalize(self._synonyms[i][0]))]
        also = f" (also: {', '.join(others[:3])})" if others else ""
        return f"{i} {self._synonyms[i][0]}{also}"

    def _ambiguous_message(self, raw: str, key: str, ids: list[int]) -> str:
        listed = "; ".join(self._describe(i, key) for i in ids)
        return (f"class name {raw!r} is ambiguous, it names {len(ids)} classes: {listed}. "
                "Write the class id or a more specific name.")

    def _unknown(self, raw: str, key: str) -> UnknownClassError:
        keys = list(self._index)
        close = difflib.get_close_matches(key, keys, n=_MAX_SUGGESTIONS, cutoff=0.75)
        contains = []
        if len(key) >= 3:
            contains = sorted((k for k in keys if key in k),
                              key=lambda k: (_match_rank(k, key), len(k), k))
        # Names holding the term as a word ("tiger shark" for "shark") beat spelling
        # neighbours ("shako"), which beat names merely containing it ("catamaran" for "cat").
        words = [k for k in contains if _match_rank(k, key) <= 2]
        ids: dict[int, str] = {}  # id -> the matching name, in order of preference
        for k in words + close + contains:
            for _, i in sorted(self._index[k]):
                ids.setdefault(i, k)
        picked = list(ids.items())[:_MAX_SUGGESTIONS]
        message = f"unknown class {raw!r}."
        if picked:
            shown = []
            for i, k in picked:
                name = self._synonyms[i][0]
                shown.append(f"{i} {name}" if normalize(name) == k else f"{i} {name} ({k})")
            message += " Did you mean: " + ", ".join(shown) + "?"
        group = self._group_keys.get(key)
        if group is not None:
            message += (f" {raw!r} is a group of {len(self._groups[group])} classes: "
                        f"write '@{group}' for all of them.")
        if not picked and group is None:
            message += " No class name is close; search the class list for one."
        return UnknownClassError(message, [(i, self._synonyms[i][0]) for i, _ in picked])


def _match_rank(name: str, key: str) -> int:
    """0 exact, 1 whole words, 2 start of a word, 3 substring, 4 no match (both normalised)."""
    if name == key:
        return 0
    if f" {key} " in f" {name} ":
        return 1
    if f" {key}" in f" {name}":
        return 2
    return 3 if key in name else 4


@functools.lru_cache(maxsize=1)
def imagenet() -> Labels:
    """The 1000 ImageNet-1k classes in standard index order, with WordNet ids and groups."""
    return Labels.from_file(IMAGENET_FILE)

