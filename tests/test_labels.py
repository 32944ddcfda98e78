"""models.labels: the bundled ImageNet data, lookups, suggestions, groups and class specs."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from models.labels import (
    IMAGENET_FILE,
    AmbiguousClassError,
    ClassSpecError,
    Labels,
    LabelsFileError,
    UnknownClassError,
    UnknownGroupError,
    imagenet,
    normalize,
    parse_class_spec,
    resolve_weights,
)

# Well-known ImageNet-1k facts (torchvision / Caffe order), independent of our data file.
KNOWN = {
    0: ("tench", "n01440764"),
    1: ("goldfish", "n01443537"),
    2: ("great white shark", "n01484850"),
    6: ("stingray", "n01498041"),
    9: ("ostrich", "n01518878"),
    115: ("sea slug", "n01950731"),
    207: ("golden retriever", "n02099601"),
    285: ("Egyptian cat", "n02124075"),
    920: ("traffic light", "n06874185"),
    967: ("espresso", "n07920052"),
    999: ("toilet tissue", "n15075141"),
    134: ("crane", "n02012849"),
    517: ("crane", "n03126707"),
}


@pytest.fixture(scope="module")
def labels() -> Labels:
    return imagenet()


# -- the data file ------------------------------------------------------------------------

def test_data_file_has_1000_classes_in_order_with_unique_wnids():
    data = json.loads(IMAGENET_FILE.read_text(encoding="utf-8"))
    classes = data["classes"]
    assert len(classes) == 1000
    assert [c["id"] for c in classes] == list(range(1000))
    wnids = [c["wnid"] for c in classes]
    assert len(set(wnids)) == 1000
    assert all(len(w) == 9 and w[0] == "n" and w[1:].isdigit() for w in wnids)
    for c in classes:
        assert c["synonyms"], c
        assert all(s == s.strip() and s for s in c["synonyms"]), c
        assert len(set(c["synonyms"])) == len(c["synonyms"]), c


def test_spot_checks(labels):
    assert len(labels) == 1000
    for i, (name, wnid) in KNOWN.items():
        assert labels.name(i) == name
        assert labels.wnid(i) == wnid
    assert labels.synonyms(2) == ["great white shark", "white shark", "man-eater",
                                  "man-eating shark", "Carcharodon carcharias"]
    assert labels.synonyms(115) == ["sea slug", "nudibranch"]
    assert labels.synonyms(920)[:2] == ["traffic light", "traffic signal"]


def test_imagenet_is_cached_and_matches_the_file(labels):
    assert imagenet() is labels
    again = Labels.from_file(IMAGENET_FILE)
    assert again.names == labels.names
    assert again.groups == labels.groups


def test_labels_import_without_torch():
    # The bot's class lookups and config checks import models.labels (and its file reader):
    # neither may pull in torch or the other heavy libraries through the models package.
    code = (
        "import sys\n"
        "from models.labels import imagenet\n"
        "assert imagenet().name(1) == 'goldfish'\n"
        "import models\n"
        "assert models.labels.Labels.from_file(models.labels.IMAGENET_FILE).name(2) == 'great white shark'\n"
        "bad = [n for n in ('torch', 'numpy', 'PIL', 'nltk') if n in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=IMAGENET_FILE.parent.parent.parent)


# -- resolve --------------------------------------------------------------------------------

@pytest.mark.parametrize("term, expected", [
    ("goldfish", [1]),
    ("Carassius auratus", [1]),
    ("  GREAT White Shark\t", [2]),
    ("man-eater", [2]),
    ("man eater", [2]),
    ("Man_Eating_Shark", [2]),
    ("white-shark", [2]),
    ("nudibranch", [115]),
    ("285", [285]),
    (" 0 ", [0]),
    ("1-5", [1, 2, 3, 4, 5]),
    ("7 - 7", [7]),
    ("n01443537", [1]),
    ("rooster", [7]),  # alias from the cleaned-up names
    ("construction crane", [517]),
    ("crane bird", [134]),
    ("tank suit", [639]),
])
def test_resolve(labels, term, expected):
    assert labels.resolve(term) == expected


def test_resolve_tolerates_apostrophes_and_accents(labels):
    straight = labels.resolve("potter's wheel")
    assert labels.name(straight[0]) == "potter's wheel"
    assert labels.resolve("potter\u2019s wheel") == straight
    assert labels.resolve("potters wheel") == straight
    assert labels.resolve("jack-o\u2019-lantern") == labels.resolve("jack o' lantern")
    assert labels.name(labels.resolve("consomm\u00e9")[0]) == "consomme"


def test_every_name_resolves_to_itself_or_is_reported_ambiguous(labels):
    for i in range(len(labels)):
        for name in labels.synonyms(i):
            try:
                ids = labels.resolve(name)
            except AmbiguousClassError as e:
                assert i in [j for j, _ in e.suggestions], (i, name)
                assert str(i) in str(e)
            else:
                assert len(ids) == 1
                # Only a class whose *primary* name this is may win over class i.
                assert ids == [i] or normalize(labels.name(ids[0])) == normalize(name), (i, name)


@pytest.mark.parametrize("term, ids", [("crane", {134, 517}), ("maillot", {638, 639}),
                                       ("Crane", {134, 517})])
def test_ambiguous_names_are_not_guessed(labels, term, ids):
    with pytest.raises(AmbiguousClassError) as caught:
        labels.resolve(term)
    error = caught.value
    assert isinstance(error, UnknownClassError) and isinstance(error, ValueError)
    assert {i for i, _ in error.suggestions} == ids
    for i in ids:
        assert str(i) in str(error)
    assert "ambiguous" in str(error)


def test_primary_name_beats_a_secondary_synonym(labels):
    # "partridge" is the name of 86 and the third synonym of 82 ruffed grouse.
    assert "partridge" in labels.synonyms(82) and labels.name(86) == "partridge"
    assert labels.resolve("partridge") == [86]


@pytest.mark.parametrize("typo, meant", [("goldfsh", 1), ("stingrey", 6),
                                         ("great whit shark", 2), ("Egyptain cat", 285)])
def test_typos_get_suggestions(labels, typo, meant):
    with pytest.raises(UnknownClassError) as caught:
        labels.resolve(typo)
    error = caught.value
    assert not isinstance(error, AmbiguousClassError)
    assert error.suggestions[0] == (meant, labels.name(meant))
    assert typo in str(error)
    assert "did you mean" in str(error).lower()
    assert f"{meant} {labels.name(meant)}" in str(error)


def test_substring_suggestions(labels):
    with pytest.raises(UnknownClassError) as caught:
        labels.resolve("shark")
    ids = [i for i, _ in caught.value.suggestions]
    assert {2, 3, 4} <= set(ids)
    for i, name in caught.value.suggestions:
        assert name == labels.name(i)


def test_unknown_without_suggestions(labels):
    with pytest.raises(UnknownClassError) as caught:
        labels.resolve("qqqqzzzz")
    assert caught.value.suggestions == []
    assert "qqqqzzzz" in str(caught.value)


def test_group_name_used_as_class_points_to_the_group(labels):
    with pytest.raises(UnknownClassError, match="@dogs"):
        labels.resolve("dogs")
    assert labels.resolve("@dogs") == labels.group("dogs")


@pytest.mark.parametrize("term", ["1000", "-1", "3-1000", "99999"])
def test_out_of_range_ids(labels, term):
    with pytest.raises(UnknownClassError, match="0-999"):
        labels.resolve(term)


def test_backwards_range(labels):
    with pytest.raises(UnknownClassError, match="1-5"):
        labels.resolve("5-1")


@pytest.mark.parametrize("term", ["", "   "])
def test_empty_term(labels, term):
    with pytest.raises(UnknownClassError):
        labels.resolve(term)


def test_bad_id_argument_types(labels):
    with pytest.raises(UnknownClassError, match="0-999"):
        labels.name(1000)
    with pytest.raises(TypeError):
        labels.name("1")
    with pytest.raises(TypeError):
        labels.resolve(None)


# -- search ---------------------------------------------------------------------------------

def test_search_substring(labels):
    found = labels.search("shark")
    assert {2, 3, 4} <= {i for i, _ in found}
    for i, name in found:
        assert name == labels.name(i)
        assert any("shark" in normalize(s) for s in labels.synonyms(i) + labels.aliases(i))


def test_search_ranks_exact_and_whole_word_first(labels):
    found = [i for i, _ in labels.search("goldfish")]
    assert found[0] == 1
    cats = [i for i, _ in labels.search("cat", limit=None)]
    assert cats.index(285) < cats.index(484)  # "Egyptian cat" before "catamaran"


def test_search_limit_and_empty_query(labels):
    assert len(labels.search("a", limit=5)) == 5
    assert len(labels.search("a", limit=None)) > 20
    everything = labels.search("")
    assert [i for i, _ in everything] == list(range(1000))
    assert labels.search("no such thing at all") == []


def test_search_ids_and_groups(labels):
    assert labels.search("285") == [(285, "Egyptian cat")]
    assert [i for i, _ in labels.search("1-3")] == [1, 2, 3]
    assert [i for i, _ in labels.search("@cats", limit=None)] == labels.group("cats")


# -- groups ---------------------------------------------------------------------------------

GROUP_NAMES = ["dogs", "cats", "birds", "fish", "reptiles", "amphibians", "insects", "spiders",
               "arachnids", "sea creatures", "marine invertebrates", "mammals", "primates",
               "vehicles", "food", "fruit & veg", "fruit", "vegetables", "instruments",
               "musical instruments", "buildings", "structures", "clothing", "plants", "flowers",
               "landscapes", "household", "household objects"]


@pytest.mark.parametrize("name", GROUP_NAMES)
def test_groups_exist(labels, name):
    ids = labels.group(name)
    assert ids and all(0 <= i < 1000 for i in ids)
    assert labels.group(name.upper()) == ids
    assert labels.group("@" + name) == ids


def test_group_membership(labels):
    assert 1 in labels.group("fish") and 2 in labels.group("fish")
    assert 207 in labels.group("dogs")
    assert 920 not in labels.group("dogs")
    assert labels.group("dogs") == list(range(151, 269))  # the well-known dog block
    assert 285 in labels.group("cats") and 291 in labels.group("cats")  # tabby to lion
    assert 9 in labels.group("birds") and 134 in labels.group("birds")
    assert 517 not in labels.group("birds")  # the machine crane
    assert not set(labels.group("dogs")) & set(labels.group("mammals"))
    assert {365, 366, 367} <= set(labels.group("primates")) <= set(labels.group("mammals"))
    assert {72, 76} <= set(labels.group("spiders"))
    assert 115 in labels.group("sea creatures")
    assert 967 in labels.group("food")
    assert 948 in labels.group("fruit & veg") and 937 in labels.group("vegetables")
    assert 402 in labels.group("instruments")
    assert 817 in labels.group("vehicles")
    assert set(range(970, 981)) - {971} == set(labels.group("landscapes"))  # 971 is bubble
    assert 985 in labels.group("flowers")


def test_groups_property_is_a_copy(labels):
    groups = labels.groups
    assert "dogs" in groups and "sea creatures" in groups
    groups["dogs"].clear()
    assert labels.group("dogs")


def test_unknown_group_lists_the_groups(labels):
    with pytest.raises(UnknownGroupError) as caught:
        labels.group("dgos")
    message = str(caught.value)
    assert "dogs" in message and "vehicles" in message
    with pytest.raises(UnknownGroupError):
        labels.resolve("@nonsense")


def test_labels_without_groups():
    plain = Labels([["beach"], ["forest", "woods"]])
    assert plain.groups == {}
    with pytest.raises(UnknownGroupError, match="no groups"):
        plain.group("dogs")


# -- class specs ----------------------------------------------------------------------------

def test_parse_class_spec(labels):
    spec = parse_class_spec("goldfish, stingray:0.5, 1-5, great white shark:-0.3", labels)
    assert spec == pytest.approx({1: 2.0, 6: 0.5, 2: 0.7, 3: 1.0, 4: 1.0, 5: 1.0})
    assert list(spec)[:2] == [1, 6]  # order of first mention


def test_parse_class_spec_ranges_groups_and_spaces(labels):
    spec = parse_class_spec(" 0-2 : 0.25 , @cats:2 ,", labels)
    cats = {i: 2.0 for i in labels.group("cats")}
    assert spec == pytest.approx({0: 0.25, 1: 0.25, 2: 0.25, **cats})


@pytest.mark.parametrize("spec", ["goldfish:abc", "goldfish:nan", "goldfish:inf",
                                  "goldfish:-inf", "goldfish:1e999", "goldfish:", "goldfish:1:2",
                                  "goldfish:0.5x"])
def test_parse_class_spec_bad_weights(labels, spec):
    with pytest.raises(ClassSpecError, match="weight") as caught:
        parse_class_spec(spec, labels)
    assert not isinstance(caught.value, UnknownClassError)
    with pytest.raises(ClassSpecError, match="weight"):
        parse_class_spec(spec, labels)


@pytest.mark.parametrize("spec", ["", " , ,", ":0.5"])
def test_parse_class_spec_nothing_to_parse(labels, spec):
    with pytest.raises(ClassSpecError):
        parse_class_spec(spec, labels)


def test_parse_class_spec_unknown_and_ambiguous_terms(labels):
    with pytest.raises(UnknownClassError) as caught:
        parse_class_spec("goldfish, stingrey:0.5", labels)
    assert caught.value.suggestions[0][0] == 6
    with pytest.raises(AmbiguousClassError):
        parse_class_spec("crane:0.5", labels)


def test_resolve_weights(labels):
    weights = resolve_weights({"goldfish": 1, "stingray": 0.5, "1-2": 0.25, 285: -1}, labels)
    assert weights == pytest.approx({1: 1.25, 6: 0.5, 2: 0.25, 285: -1.0})


@pytest.mark.parametrize("bad", ["lots", float("nan"), float("inf"), True, None, [1]])
def test_resolve_weights_bad_weights(labels, bad):
    with pytest.raises(ClassSpecError, match="weight"):
        resolve_weights({"goldfish": bad}, labels)


def test_resolve_weights_unknown_term(labels):
    with pytest.raises(UnknownClassError):
        resolve_weights({"goldfsh": 1.0}, labels)


# -- custom label files ---------------------------------------------------------------------

def test_from_text_file(tmp_path: Path):
    path = tmp_path / "places.txt"
    path.write_text("# scene labels\nbeach, seashore\n\nforest path\nmountain,alp , peak\n",
                    encoding="utf-8")
    places = Labels.from_file(path)
    assert len(places) == 3
    assert places.synonyms(0) == ["beach", "seashore"]
    assert places.synonyms(2) == ["mountain", "alp", "peak"]
    assert places.resolve("Forest_Path") == [1]
    assert places.resolve("peak") == [2]
    assert places.wnid(0) is None
    with pytest.raises(UnknownClassError, match="0-2"):
        places.resolve("3")


def test_from_text_file_with_wnids(tmp_path: Path):
    path = tmp_path / "synset_words.txt"
    path.write_text("n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n",
                    encoding="utf-8")
    small = Labels.from_file(path)
    assert small.names == ["tench", "goldfish"]
    assert small.wnid(1) == "n01443537"
    assert small.resolve("n01443537") == [1]


@pytest.mark.parametrize("data", [["beach, seashore", "forest path"],
                                  [["beach", "seashore"], ["forest path"]]])
def test_from_json_file(tmp_path: Path, data):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    scenes = Labels.from_file(path)
    assert scenes.names == ["beach", "forest path"]
    assert scenes.synonyms(0) == ["beach", "seashore"]
    assert scenes.resolve("seashore") == [0]


@pytest.mark.parametrize("name, content, problem", [
    ("empty.txt", "\n# nothing\n", "no classes"),
    ("bad.json", "[1, 2", "JSON"),
    ("numbers.json", "[1, 2]", "entry 0"),
    ("blank.json", '[["a"], []]', "class 1 has no name"),
    ("object.json", '{"labels": []}', "classes"),
    ("mixed.txt", "n01440764 tench\ngoldfish\n", "WordNet id"),
])
def test_bad_label_files(tmp_path: Path, name, content, problem):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LabelsFileError, match=problem) as caught:
        Labels.from_file(path)
    assert str(path) in str(caught.value)


def test_missing_label_file(tmp_path: Path):
    with pytest.raises(LabelsFileError, match="cannot read"):
        Labels.from_file(tmp_path / "nope.txt")


def test_every_bad_term_of_a_spec_is_reported_at_once(labels):
    from models.labels import ClassSpecErrors

    for call in (lambda: parse_class_spec("goldfsh, stingray, stingrey:0.5, crane, 5000, goldfish:x", labels),
                 lambda: resolve_weights({"goldfsh": 1, "stingray": 1, "stingrey": 0.5, "crane": 1, 5000: 1,
                                          "goldfish": "x"}, labels)):
        with pytest.raises(ClassSpecErrors) as caught:
            call()
        kinds = [type(e) for e in caught.value.errors]
        assert kinds == [UnknownClassError, UnknownClassError, AmbiguousClassError, UnknownClassError, ClassSpecError]
        assert {1, 6} <= {i for i, _ in caught.value.suggestions}
        assert "goldfsh" in str(caught.value) and "stingrey" in str(caught.value)
