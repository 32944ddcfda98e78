"""Inputs to the engine and the `dream` command that the first sweeps had not tried: each test here
failed (a traceback, a wrong picture or an unclear refusal) before the fix it guards."""
import struct
import warnings

import pytest
from PIL import Image, ImageCms

from dreamer.cli import main
from dreamer.image_io import ImageError, load_image
from dreamer.recipe import Recipe, RecipeError
from tests.test_unseen_inputs_engine import photo  # noqa: F401 - the fixture, shared

TINY = ["--model", "tiny", "--steps", "1", "-q", "--seed", "5", "--device", "cpu"]



# --- recipe files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key, mode", [("weights", "lucid"), ("guide", "guide"), ("layer", "deepdream"),
                                       ("guide_layer", "guide"), ("model", "lucid")])
def test_a_recipe_path_or_name_that_is_no_text_is_a_recipe_error(key, mode):
    with pytest.raises(RecipeError, match=f"{key} = 5"):
        Recipe.from_dict({key: 5, "mode": mode, "classes": {"1": 1.0}})


def test_a_recipe_whose_weights_are_a_number_is_a_clear_cli_error(tmp_path, photo, capsys):
    recipe = tmp_path / "r.toml"
    recipe.write_text("weights = 5\nclasses = {goldfish = 1}\n")
    assert main([str(photo), "--recipe", str(recipe), "-o", str(tmp_path / "o.png"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err and "weights = 5" in err


@pytest.mark.parametrize("name, text", [("r.toml", "steps = 3\nclasses = {goldfish = 1}\n"),
                                        ("r.json", '{"steps": 3, "classes": {"goldfish": 1}}')])
def test_a_recipe_saved_with_a_byte_order_mark_loads(tmp_path, name, text):
    # Windows Notepad writes UTF-8 with a BOM; tomllib and json both refuse it.
    p = tmp_path / name
    p.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert Recipe.load(p).views.steps == 3


# --- pictures -------------------------------------------------------------------------------------


def _swapped_primaries_profile() -> bytes:
    """An RGB ICC profile whose red and green primaries are sRGB's swapped: in a picture tagged
    with it, a pixel stored as (255, 0, 0) is meant to be pure green. Wide-gamut profiles
    (Display P3 from phones, Adobe RGB from cameras) differ from sRGB the same way, less."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    tags = {bytes(data[o:o + 4]): o for o in range(132, 132 + 12 * struct.unpack(">I", data[128:132])[0], 12)}
    r, g = tags[b"rXYZ"], tags[b"gXYZ"]
    data[r + 4:r + 12], data[g + 4:g + 12] = data[g + 4:g + 12], data[r + 4:r + 12]
    return bytes(data)


@pytest.mark.parametrize("ext", ["png", "jpg", "webp", "tif"])
def test_a_pictures_icc_profile_is_applied_not_dropped(tmp_path, ext):
    p = tmp_path / f"tagged.{ext}"
    Image.new("RGB", (12, 8), (255, 0, 0)).save(p, icc_profile=_swapped_primaries_profile())
    r, g, b = load_image(p).getpixel((3, 3))
    assert g > 200 and r < 60 and b < 60, (r, g, b)


def test_a_transparent_picture_with_an_icc_profile_still_goes_over_white(tmp_path):
    p = tmp_path / "tagged.png"
    im = Image.new("RGBA", (12, 8), (255, 0, 0, 255))
    im.paste((0, 0, 0, 0), (0, 0, 6, 8))
    im.save(p, icc_profile=_swapped_primaries_profile())
    out = load_image(p)
    assert out.getpixel((1, 1)) == (255, 255, 255)
    r, g, b = out.getpixel((9, 1))
    assert g > 200 and r < 60 and b < 60, (r, g, b)


def test_a_broken_icc_profile_costs_the_colour_management_not_the_picture(tmp_path):
    p = tmp_path / "tagged.png"
    Image.new("RGB", (12, 8), (255, 0, 0)).save(p, icc_profile=b"not a profile at all" * 10)
    assert load_image(p).getpixel((3, 3)) == (255, 0, 0)


# --- the command line -----------------------------------------------------------------------------


def test_a_folder_given_as_the_photo_is_named_a_folder(tmp_path, photo, capsys):
    folder = tmp_path / "holiday"
    folder.mkdir()
    assert main([str(folder), "-o", str(tmp_path / "out"), *TINY, "-c", "goldfish"]) == 2
    err = capsys.readouterr().err
    assert "no such photo" not in err and "folder" in err and str(folder) in err


def test_a_folder_given_to_classify_is_named_a_folder(tmp_path, capsys):
    assert main(["--classify", str(tmp_path), "--model", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "no such photo" not in err and "folder" in err


@pytest.mark.parametrize("name", ["dive.gif", "scan.tif", "photo.bmp", "recipe.toml"])
def test_a_binary_file_given_as_the_recipe_says_it_is_no_recipe(tmp_path, photo, capsys, name):
    # A GIF (a dive's own animation), a TIFF or BMP: pictures no recipe is read back from.
    fake = tmp_path / name
    Image.new("RGB", (8, 8), (9, 80, 200)).save(fake, format={"gif": "GIF", "tif": "TIFF"}.get(name[-3:], "BMP"))
    assert main([str(photo), "--recipe", str(fake), "-o", str(tmp_path / "o.png"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "codec" not in err and "not UTF-8 text" in err and str(fake) in err


def test_a_dives_folder_given_as_the_recipe_replays_its_recipe(tmp_path, photo, capsys):
    dive = tmp_path / "dive"
    assert main([str(photo), "-o", str(dive), "--frames", "2", *TINY, "-c", "goldfish"]) == 0
    assert (dive / "recipe.json").is_file()
    capsys.readouterr()
    out = tmp_path / "again"
    assert main([str(photo), "--recipe", str(dive), "-o", str(out), "-q", "--device", "cpu"]) == 0
    assert (out / "frame_00001.png").is_file()


def test_a_folder_without_a_recipe_given_as_the_recipe_is_named_a_folder(tmp_path, photo, capsys):
    assert main([str(photo), "--recipe", str(tmp_path), "-o", str(tmp_path / "o.png"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "Errno" not in err and "folder" in err


def _float_rgb_tiff(path, value=(1.0, 0.5, 0.0)) -> None:
    """A valid uncompressed 32-bit float RGB TIFF (as HDR tools and scientific cameras export),
    a pixel format Pillow does not read."""
    w, h = 6, 4
    data = struct.pack("<3f", *value) * (w * h)
    bps_at = 8 + len(data)
    fmt_at = bps_at + 6
    ifd_at = fmt_at + 6
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, bps_at), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, 8), (277, 3, 1, 3), (278, 4, 1, h), (279, 4, 1, len(data)), (339, 3, 3, fmt_at)]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value_ in entries:
        ifd += (struct.pack("<HHII", tag, kind, count, value_) if kind == 4 or count > 2
                else struct.pack("<HHIHH", tag, kind, count, value_, 0))
    path.write_bytes(b"II*\x00" + struct.pack("<I", ifd_at) + data + struct.pack("<3H", 32, 32, 32)
                     + struct.pack("<3H", 3, 3, 3) + ifd + b"\x00\x00\x00\x00")


def test_a_float_rgb_tiff_is_called_unsupported_not_damaged(tmp_path):
    p = tmp_path / "render.tif"
    _float_rgb_tiff(p)
    with pytest.raises(ImageError) as caught:
        load_image(p)
    said = str(caught.value)
    assert "damaged" not in said and "not supported" in said and "PNG" in said


def test_an_output_under_a_file_is_refused_before_the_dream(tmp_path, photo, capsys, monkeypatch):
    import dreamer.render

    def no_dream(*a, **k):
        raise AssertionError("dreamt an output that cannot be written")

    monkeypatch.setattr(dreamer.render, "dream", no_dream)
    assert main([str(photo), "-o", str(photo / "dream.png"), *TINY, "-c", "goldfish"]) == 2
    err = capsys.readouterr().err
    assert "File exists" not in err and f"{photo} is a file" in err


def test_a_cut_tiff_says_so_without_a_python_warning(tmp_path):
    whole = tmp_path / "whole.tif"
    Image.new("RGB", (8, 4), (255, 0, 0)).save(whole)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole.read_bytes()[:20])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(ImageError, match="damaged or cut short"):
            load_image(cut)
    assert [str(w.message) for w in seen] == []


@pytest.mark.parametrize("batch", ["1", "2"])
def test_one_bad_photo_among_several_costs_only_itself(tmp_path, photo, capsys, batch):
    """`dream a.jpg bad.txt c.jpg`: the photos after a bad one are dreamt too (before, the run
    stopped at it and c.jpg was never dreamt); the bad one is named, and the run exits 2."""
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a picture")
    other = tmp_path / "other.png"
    Image.open(photo).save(other)
    out = tmp_path / "out"
    code = main([str(photo), str(bad), str(other), "-o", str(out), *TINY, "-c", "goldfish", "--batch", batch])
    err = capsys.readouterr().err
    assert code == 2
    assert sorted(p.name.split("_")[0] for p in out.glob("*.jpg")) == ["other", "photo"]
    assert "bad.jpg" in err and "1 of 3 photos were not dreamt" in err


def test_a_single_bad_photo_is_still_an_error_of_its_own(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a picture")
    assert main([str(bad), "-o", str(tmp_path / "o.png"), *TINY, "-c", "goldfish"]) == 2
    err = capsys.readouterr().err
    assert "bad.jpg" in err and "skipped" not in err


def test_every_class_at_weight_zero_is_refused_as_nothing_to_dream(tmp_path, photo, capsys):
    assert main([str(photo), "-o", str(tmp_path / "o.png"), *TINY, "-c", "goldfish:0"]) == 2
    assert "weight 0" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
    # one class at 0 beside another is a choice, not a mistake
    assert main([str(photo), "-o", str(tmp_path / "p.png"), *TINY, "-c", "goldfish:0,stingray"]) == 0
