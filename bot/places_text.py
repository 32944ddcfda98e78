"""Where each creature grew, in words for alt text: the engine's measured places (dreamer.places)
as "goldfish shapes grow in the top left and along the bottom; faint traces of stingray show in
the middle", in the caption's language.

Only what the measurement supports is said (dreamer.places.claim): a class plainly where the
dreaming net still finds it on a degraded view, "faint traces" where its evidence rose but the
net no longer finds it, and "hardly shows" where it did not grow. The words are grid words only
(a 3x3 grid: "top left", "along the bottom", "across the whole picture"): the photo's own
description says what the photo shows but not where, so it is never used to say where a
creature is (that would be a guess written as fact); the alt template names it on its own.

The phrases are the bot's own, per language (ISO 639 code, as `[publishers.mastodon] language`
declares the captions'); a language without phrases here gets English. Class names are the
model's labels, which are English whatever the language, as in the caption.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

from dreamer.places import Claim, Places, Strength

MAX_PARTS = 3  # parts named per class: the strongest first; more reads as a list, not a picture
WHOLE = 7  # a class that took this many of the 9 cells is "across the whole picture"


@dataclass(frozen=True)
class Words:
    cells: tuple[str, ...]  # the 9 cells, row by row from the top left
    rows: tuple[str, str, str]  # a whole row: top, middle, bottom
    cols: tuple[str, str, str]  # a whole column: left, middle, right
    whole: str
    plain: str  # {name} {where}
    faint: str
    none: str  # {name}
    also: str  # joins two parts
    unknown: str  # when nothing was measured: what the alt text said before places


WORDS: dict[str, Words] = {
    "en": Words(
        cells=("in the top left", "in the top middle", "in the top right", "on the left", "in the middle",
               "on the right", "in the bottom left", "in the bottom middle", "in the bottom right"),
        rows=("along the top", "across the middle", "along the bottom"),
        cols=("down the left side", "down the middle", "down the right side"),
        whole="across the whole picture",
        plain="{name} shapes grow {where}", faint="faint traces of {name} show {where}",
        none="{name} hardly shows", also=" and ",
        unknown="their shapes and textures show all over the scene"),
    "de": Words(
        cells=("oben links", "oben in der Mitte", "oben rechts", "links in der Mitte", "in der Mitte",
               "rechts in der Mitte", "unten links", "unten in der Mitte", "unten rechts"),
        rows=("am oberen Rand entlang", "quer durch die Mitte", "am unteren Rand entlang"),
        cols=("an der linken Seite entlang", "senkrecht durch die Mitte", "an der rechten Seite entlang"),
        whole="über das ganze Bild",
        plain="Formen von {name} wachsen {where}", faint="schwache Spuren von {name} zeigen sich {where}",
        none="{name} ist kaum zu sehen", also=" und ",
        unknown="ihre Formen und Texturen zeigen sich überall im Bild"),
    "fr": Words(
        cells=("en haut à gauche", "en haut au centre", "en haut à droite", "à gauche au milieu", "au centre",
               "à droite au milieu", "en bas à gauche", "en bas au centre", "en bas à droite"),
        rows=("tout le long du haut", "en travers du milieu", "tout le long du bas"),
        cols=("tout le long du côté gauche", "de haut en bas au centre", "tout le long du côté droit"),
        whole="sur toute l'image",
        plain="des formes de {name} poussent {where}", faint="de légères traces de {name} apparaissent {where}",
        none="{name} se voit à peine", also=" et ",
        unknown="leurs formes et textures apparaissent dans toute la scène"),
    "es": Words(
        cells=("arriba a la izquierda", "arriba en el centro", "arriba a la derecha", "a la izquierda en el centro",
               "en el centro", "a la derecha en el centro", "abajo a la izquierda", "abajo en el centro",
               "abajo a la derecha"),
        rows=("a lo largo de la parte superior", "a lo ancho del centro", "a lo largo de la parte inferior"),
        cols=("a lo largo del lado izquierdo", "de arriba abajo por el centro", "a lo largo del lado derecho"),
        whole="por toda la imagen",
        plain="formas de {name} crecen {where}", faint="leves rastros de {name} aparecen {where}",
        none="{name} apenas se ve", also=" y ",
        unknown="sus formas y texturas aparecen por toda la escena"),
}


def words_for(language: str | None) -> Words:
    """The phrases of `language` ("de", "de-AT", "DE"), English when there are none."""
    code = (language or "en").split("-")[0].split("_")[0].lower()
    return WORDS.get(code, WORDS["en"])


def where(cells: tuple[int, ...], w: Words, max_parts: int = MAX_PARTS) -> str:
    """The cells (strongest first) as at most `max_parts` parts: whole rows and columns by
    their name, the rest cell by cell, in the order of their strongest cell."""
    taken = set(cells)
    if len(taken) >= WHOLE:
        return w.whole
    rank = {c: k for k, c in enumerate(cells)}
    groups: list[tuple[int, str, set[int]]] = []
    for r in range(3):
        row = {3 * r, 3 * r + 1, 3 * r + 2}
        if row <= taken:
            groups.append((min(rank[c] for c in row), w.rows[r], row))
    for c in range(3):
        col = {c, c + 3, c + 6}
        if col <= taken:
            groups.append((min(rank[x] for x in col), w.cols[c], col))
    covered = set().union(*(g for _, _, g in groups)) if groups else set()
    groups += [(rank[c], w.cells[c], {c}) for c in cells if c not in covered]
    parts = [text for _, text, _ in sorted(groups, key=lambda g: g[0])][:max_parts]
    return _join(parts, w)


def _join(parts: list[str], w: Words) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + w.also + parts[-1]


def claim_text(c: Claim, w: Words, name: str, max_parts: int = MAX_PARTS) -> str:
    if c.strength is Strength.NONE:
        return w.none.format(name=name)
    template = w.plain if c.strength is Strength.PLAIN else w.faint
    return template.format(name=name, where=where(c.cells, w, max_parts))


def places_sentence(places: Places | None, *, names: Mapping[int, str] | None = None, language: str | None = None,
                    max_parts: int = MAX_PARTS, quiet: bool = False) -> str:
    """Per class, where it grew, joined by "; " (the classes in the recipe's order). `names`:
    the bot's name for each class id it dreamt; a class it does not name is left out (places
    that came through a queue are data, and name no class of their own). Without `names`, the
    model's labels. `quiet` leaves out the classes that did not grow. No places: what the alt
    text said before places were measured."""
    w = words_for(language)
    if places is None or not places.classes:
        return w.unknown
    claims = [c for c in places.claims() if not (quiet and c.strength is Strength.NONE)
              and (names is None or c.class_id in names)]
    if not claims:
        return w.unknown
    return "; ".join(claim_text(c, w, c.name if names is None else names[c.class_id], max_parts) for c in claims)


def shorter_sentences(places: Places | None, *, names: Mapping[int, str] | None = None,
                      language: str | None = None) -> Iterator[str]:
    """The places in words from the most detailed to the shortest, to fit a length limit:
    fewer parts per class, then without the classes that did not grow."""
    for quiet in (False, True):
        for parts in range(MAX_PARTS, 0, -1):
            yield places_sentence(places, names=names, language=language, max_parts=parts, quiet=quiet)
