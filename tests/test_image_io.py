"""dreamer.image_io: every hostile file is written here, in tmp_path; nothing comes from the internet."""
from __future__ import annotations

import io
import json
import os
import random
import struct
import warnings
import zipfile
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from dreamer import ImageError, Recipe, load_image, save_image
from dreamer.image_io import read_embedded_recipe, save_animation, sidecar_path
from bot_helpers import open_dir, unprivileged  # noqa: F401  (open_dir is a fixture)

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height, with a few bytes of pixel data: no allocation."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + _chunk(b"IEND", b"")
    )


def encoded(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def noise(w: int = 64, h: int = 48, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def px(im: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    return tuple(im.getpixel(xy))


def close(a, b, tol: int = 6) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def raises_naming(fragment: str, match: str | None = None):
    """pytest.raises for ImageError whose message names the file (and says what is wrong)."""

    class _Check:
        def __enter__(self):
            self.ctx = pytest.raises(ImageError)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            suppressed = self.ctx.__exit__(*exc)
            msg = str(self.info.value)
            assert fragment in msg, msg
            assert "\n" not in msg, msg
            if match:
                assert match.lower() in msg.lower(), msg
            return suppressed

    return _Check()


# --- modes -----------------------------------------------------------------------------------


def test_rgb_png_loads_exactly(tmp_path):
    src = noise()
    out = load_image(write(tmp_path / "n.png", encoded(src, "PNG")))
    assert out.mode == "RGB" and out.size == src.size
    assert np.array_equal(np.asarray(out), np.asarray(src))


def test_rgba_transparent_is_white_and_opaque_kept(tmp_path):
    im = Image.new("RGBA", (4, 2), (0, 0, 0, 0))
    im.putpixel((1, 0), (10, 200, 30, 255))
    im.putpixel((2, 0), (0, 0, 0, 128))  # half-transparent black over white -> mid grey
    out = load_image(write(tmp_path / "a.png", encoded(im, "PNG")))
    assert out.mode == "RGB"
    assert px(out, (0, 0)) == WHITE
    assert px(out, (1, 0)) == (10, 200, 30)
    assert close(px(out, (2, 0)), (127, 127, 127), 2)


def test_la_transparent_is_white(tmp_path):
    im = Image.new("LA", (2, 1), (0, 0))
    im.putpixel((1, 0), (40, 255))
    out = load_image(write(tmp_path / "la.png", encoded(im, "PNG")))
    assert px(out, (0, 0)) == WHITE and px(out, (1, 0)) == (40, 40, 40)


def test_palette_with_transparency_is_white(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    im.putpixel((0, 0), 0)
    im.putpixel((1, 0), 1)
    for name in ("p.png", "p.gif"):
        out = load_image(write(tmp_path / name, encoded(im, name[-3:].upper(), transparency=0)))
        assert px(out, (0, 0)) == WHITE, name  # index 0 is black in the palette but transparent
        assert px(out, (1, 0)) == RED, name


def test_palette_without_transparency(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([0, 0, 255, 0, 255, 0] + [0] * (254 * 3))
    im.putpixel((1, 0), 1)
    out = load_image(write(tmp_path / "p.png", encoded(im, "PNG")))
    assert px(out, (0, 0)) == BLUE and px(out, (1, 0)) == (0, 255, 0)


def test_cmyk_jpeg(tmp_path):
    im = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    out = load_image(write(tmp_path / "c.jpg", encoded(im, "JPEG", quality=95)))
    assert out.mode == "RGB"
    assert close(px(out, (8, 8)), RED, 12)


def test_cmyk_tiff(tmp_path):
    im = Image.new("CMYK", (4, 4), (255, 0, 255, 0))  # green
    out = load_image(write(tmp_path / "c.tif", encoded(im, "TIFF")))
    assert px(out, (0, 0)) == (0, 255, 0)


def _ramp16() -> np.ndarray:
    return np.linspace(0, 65535, 256).round().astype(np.uint16).reshape(16, 16)


def _assert_full_ramp(out: Image.Image) -> None:
    grey = np.asarray(out)[..., 0].astype(int).ravel()
    assert out.mode == "RGB"
    assert grey[0] == 0 and grey[-1] == 255
    assert np.all(np.diff(grey) >= 0)  # still a ramp, not clipped
    assert len(np.unique(grey)) > 200
    assert abs(int(grey[128]) - 128) <= 2


def test_16bit_png_scaled_not_clipped(tmp_path):
    im = Image.fromarray(_ramp16())
    assert im.mode == "I;16"
    _assert_full_ramp(load_image(write(tmp_path / "g16.png", encoded(im, "PNG"))))


def test_16bit_big_endian_and_pgm(tmp_path):
    a = _ramp16()
    big = Image.frombytes("I;16B", (16, 16), a.astype(">u2").tobytes())
    _assert_full_ramp(load_image(write(tmp_path / "g16b.tif", encoded(big, "TIFF"))))
    pgm = b"P5 16 16 65535\n" + a.astype(">u2").tobytes()  # Pillow opens this as mode I
    _assert_full_ramp(load_image(write(tmp_path / "g16.pgm", pgm)))


def test_32bit_int_tiff(tmp_path):
    a = (np.arange(256, dtype=np.int32) * 1000 - 100_000).reshape(16, 16)  # outside 0..65535: stretched
    out = load_image(write(tmp_path / "i32.tif", encoded(Image.fromarray(a, "I"), "TIFF")))
    grey = np.asarray(out)[..., 0].ravel()
    assert grey[0] == 0 and grey[-1] == 255 and np.all(np.diff(grey.astype(int)) >= 0)


def test_float_greyscale(tmp_path):
    unit = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)
    _assert_full_ramp(load_image(write(tmp_path / "f.tif", encoded(Image.fromarray(unit, "F"), "TIFF"))))
    wide = (unit * 3000 - 500).astype(np.float32)
    _assert_full_ramp(load_image(write(tmp_path / "fw.tif", encoded(Image.fromarray(wide, "F"), "TIFF"))))


def test_one_bit_and_grey(tmp_path):
    one = Image.new("1", (2, 1), 0)
    one.putpixel((1, 0), 1)
    out = load_image(write(tmp_path / "b.png", encoded(one, "PNG")))
    assert px(out, (0, 0)) == (0, 0, 0) and px(out, (1, 0)) == WHITE
    grey = load_image(write(tmp_path / "l.png", encoded(Image.new("L", (3, 3), 77), "PNG")))
    assert grey.mode == "RGB" and px(grey, (1, 1)) == (77, 77, 77)


def _left_red_right_blue() -> Image.Image:
    im = Image.new("RGB", (40, 20), RED)
    im.paste(BLUE, (20, 0, 40, 20))
    return im


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_6_rotates(tmp_path, fmt):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; "rotate 90 clockwise to view"
    path = write(tmp_path / f"o.{fmt.lower()}", encoded(_left_red_right_blue(), fmt, exif=exif.tobytes()))
    out = load_image(path)
    assert out.size == (20, 40)
    assert close(px(out, (10, 5)), RED, 30)  # the left edge is now on top
    assert close(px(out, (10, 35)), BLUE, 30)
    assert "exif" not in out.info  # orientation (and GPS with it) is not carried on


def test_no_orientation_unchanged(tmp_path):
    out = load_image(write(tmp_path / "o.png", encoded(_left_red_right_blue(), "PNG")))
    assert out.size == (40, 20) and px(out, (0, 0)) == RED


def _two_frames() -> list[Image.Image]:
    return [Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), BLUE)]


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animation_gives_first_frame(tmp_path, fmt):
    first, second = _two_frames()
    data = encoded(first, fmt, save_all=True, append_images=[second], duration=50, loop=0, **(
        {"lossless": True} if fmt == "WEBP" else {}))
    with Image.open(io.BytesIO(data)) as check:
        assert check.n_frames == 2
    out = load_image(write(tmp_path / f"anim.{fmt.lower()}", data))
    assert close(px(out, (4, 4)), RED, 4)


# --- hostile files ---------------------------------------------------------------------------


def test_empty_file(tmp_path):
    with raises_naming("photo.jpg", "empty"):
        load_image(write(tmp_path / "photo.jpg", b""))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated(tmp_path, fmt):
    data = encoded(noise(200, 150), fmt)
    path = write(tmp_path / f"cut.{fmt.lower()}", data[: len(data) // 2])
    with raises_naming(path.name, "truncated"):
        load_image(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_cut_inside_the_header(tmp_path):
    path = write(tmp_path / "stub.png", encoded(noise(), "PNG")[:20])
    with raises_naming("stub.png", "PNG"):
        load_image(path)


def test_corrupt_data(tmp_path):
    data = bytearray(encoded(noise(100, 100), "PNG"))
    data[300:400] = bytes(100)
    with raises_naming("bad.png"):
        load_image(write(tmp_path / "bad.png", bytes(data)))


@pytest.mark.parametrize(
    "name, data, says",
    [
        ("notes.jpg", b"just some notes\nnot a picture\n", "text"),
        ("page.png", b"<!DOCTYPE html>\n<html><head><title>Login</title></head></html>", "HTML"),
        ("noise.jpg", bytes(random.Random(1).randrange(256) for _ in range(4096)), "not an image"),
        ("drawing.png", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
        ("doc.jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "PDF"),
    ],
)
def test_not_images(tmp_path, name, data, says):
    with raises_naming(name, says):
        load_image(write(tmp_path / name, data))


def test_zip_file(tmp_path):
    path = tmp_path / "photos.jpg"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.txt", "hello")
    with raises_naming("photos.jpg", "ZIP"):
        load_image(path)


def test_directory_and_missing(tmp_path):
    folder = tmp_path / "album.jpg"
    folder.mkdir()
    with raises_naming("album.jpg", "folder"):
        load_image(folder)
    with raises_naming("ghost.png", "no such file"):
        load_image(tmp_path / "ghost.png")
    with raises_naming("nul", "no such file"):
        load_image(str(tmp_path / "nul\x00.png"))  # a NUL byte makes os.stat raise ValueError


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with raises_naming("pipe.png", "not a regular file"):
        load_image(fifo)


def test_unreadable(open_dir):
    path = write(open_dir / "locked.png", encoded(noise(), "PNG"))
    path.chmod(0)

    def load() -> None:  # as an ordinary user: root reads any file, whatever its mode
        with raises_naming("locked.png", "permission"):
            load_image(path)

    unprivileged(load)


def test_huge_header_refused_before_decoding(tmp_path):
    path = write(tmp_path / "big.png", png_header_only(50_000, 50_000))
    assert path.stat().st_size < 200
    with raises_naming("big.png", "50000x50000"):
        load_image(path)
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # no global change leaked (Pillow's default)


def test_own_bomb_limit_is_used_and_pillow_warning_does_not_leak(tmp_path):
    # 95 MP: over Pillow's warning threshold (89 MP), under its hard limit; ours decides.
    path = write(tmp_path / "wide.png", png_header_only(10_000, 9_500))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with raises_naming("wide.png", "over the 90 MP limit"):
            load_image(path, bomb_pixels=90_000_000)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    # A small real picture is refused too when the caller's limit is small.
    with raises_naming("small.png", "decompression bomb"):
        load_image(write(tmp_path / "small.png", encoded(noise(100, 100), "PNG")), bomb_pixels=5_000)


@pytest.mark.parametrize("size, says", [((0, 10), "PNG"), ((200_000, 5), "on a side")])
def test_absurd_dimensions(tmp_path, size, says):
    with raises_naming("odd.png", says):
        load_image(write(tmp_path / "odd.png", png_header_only(*size)))


@pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")  # its notes on the broken tags
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF"])
def test_mangled_files_only_ever_raise_image_error(fmt):
    """Flipped bytes and cut-offs anywhere: a picture or an ImageError, never another exception."""
    rng = random.Random(fmt)
    good = encoded(noise(40, 30), fmt)
    for _ in range(150):
        data = bytearray(good)
        for _ in range(rng.choice([1, 3, 10])):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(1, len(data))]
        try:
            out = load_image(bytes(data), name="mangled")
        except ImageError as exc:
            assert str(exc).startswith("mangled: ")
        else:
            assert out.mode == "RGB" and out.width * out.height > 0


def test_bad_arguments_are_image_errors(tmp_path):
    with pytest.raises(ImageError):
        load_image(12345)  # type: ignore[arg-type]
    with pytest.raises(ImageError):
        load_image(b"x", max_pixels=0)


# --- size and bytes --------------------------------------------------------------------------


def test_downscale_keeps_aspect(tmp_path):
    out = load_image(write(tmp_path / "w.png", encoded(noise(400, 100), "PNG")), max_pixels=10_000)
    assert out.size == (200, 50)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_downscale_odd_limit(tmp_path, fmt):
    src = noise(1200, 700)
    out = load_image(write(tmp_path / f"d.{fmt.lower()}", encoded(src, fmt)), max_pixels=54_321)
    assert out.width * out.height <= 54_321
    assert out.width * out.height > 0.97 * 54_321
    assert abs(out.width / out.height - 1200 / 700) < 0.02
    # LANCZOS of noise averages towards mid grey rather than, say, picking every 5th pixel
    assert abs(float(np.asarray(out).mean()) - float(np.asarray(src).mean())) < 3


def test_small_picture_not_enlarged(tmp_path):
    assert load_image(write(tmp_path / "s.png", encoded(noise(30, 20), "PNG"))).size == (30, 20)


def test_bytes_input():
    src = noise(32, 16)
    out = load_image(encoded(src, "PNG"), name="upload.png")
    assert np.array_equal(np.asarray(out), np.asarray(src))
    assert load_image(bytearray(encoded(src, "PNG"))).size == (32, 16)
    with raises_naming("upload.png", "HTML"):
        load_image(b"<html><body>403 Forbidden</body></html>", name="upload.png")
    with raises_naming("image", "empty"):
        load_image(b"")


# --- saving ----------------------------------------------------------------------------------


def _recipe() -> dict:
    d = Recipe(classes={"goldfish": 1.0, "caf\u00e9 au lait": -0.5}, seed=7).to_dict()
    d["resolved"] = {"goldfish": [1]}  # save_image gets the recipe plus resolved class names
    return d


@pytest.mark.parametrize("ext, exact", [(".png", True), (".jpg", False), (".jpeg", False), (".webp", False)])
def test_save_round_trip(tmp_path, ext, exact):
    y, x = np.mgrid[0:48, 0:64]
    src = Image.fromarray(np.stack([x * 4, y * 5, (x + y) * 2], -1).astype(np.uint8))  # smooth: lossy-friendly
    recipe = _recipe()
    path = save_image(src, tmp_path / "out" / "deep" / f"dream{ext}", recipe)
    assert path == tmp_path / "out" / "deep" / f"dream{ext}" and path.is_file()

    back = load_image(path)
    assert back.size == src.size
    diff = np.abs(np.asarray(back).astype(int) - np.asarray(src).astype(int))
    assert diff.max() == 0 if exact else diff.mean() < 4

    assert read_embedded_recipe(path) == recipe
    side = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    assert sidecar_path(path) == path.with_name("dream.json")
    assert side["recipe"] == recipe
    assert side["software"].startswith("lucid-dream-bot ")
    assert datetime.fromisoformat(side["created"]).tzinfo is not None
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_sidecar_loads_as_recipe(tmp_path):
    recipe = Recipe.from_flat(classes={"goldfish": 2.0}, iterations=3)
    path = save_image(noise(), tmp_path / "r.png", recipe.to_dict())
    assert Recipe.load(sidecar_path(path)) == recipe


def test_save_without_recipe(tmp_path):
    path = save_image(noise(), tmp_path / "plain.jpg")
    assert read_embedded_recipe(path) is None
    assert not sidecar_path(path).exists()


def test_rgba_saved_as_jpeg_goes_over_white(tmp_path):
    im = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    path = save_image(im, tmp_path / "t.jpg")
    assert close(px(load_image(path), (4, 4)), WHITE, 3)


@pytest.mark.parametrize("name", ["x.bmp", "x.gif", "x.tiff", "noextension"])
def test_unsupported_extension(tmp_path, name):
    with raises_naming(name, ".jpg, .jpeg, .png, .webp"):
        save_image(noise(), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    path = save_image(noise(seed=1), tmp_path / "keep.jpg")
    before = path.read_bytes()
    with raises_naming("keep.jpg"):
        save_image(Image.new("RGB", (70_000, 1)), path)  # over JPEG's 65535-pixel side: the encoder fails
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.jpg"]


def test_target_is_a_folder(tmp_path):
    (tmp_path / "out.png").mkdir()
    with raises_naming("out.png"):
        save_image(noise(), tmp_path / "out.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


@pytest.mark.skipif(os.name != "posix", reason="umask is POSIX")
def test_saved_file_mode_follows_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_image(noise(), tmp_path / "m.png", {"a": 1})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    assert sidecar_path(path).stat().st_mode & 0o777 == 0o644


def test_bad_recipe_and_quality(tmp_path):
    with pytest.raises(ImageError):
        save_image(noise(), tmp_path / "a.png", {"x": float("nan")})
    with pytest.raises(ImageError):
        save_image(noise(), tmp_path / "a.jpg", quality=0)
    assert list(tmp_path.iterdir()) == []


def test_read_embedded_recipe_on_foreign_and_bad_files(tmp_path):
    assert read_embedded_recipe(write(tmp_path / "camera.jpg", encoded(noise(), "JPEG"))) is None
    with raises_naming("t.png", "text"):
        read_embedded_recipe(write(tmp_path / "t.png", b"hello"))
    with raises_naming("gone.png"):
        read_embedded_recipe(tmp_path / "gone.png")


@pytest.mark.parametrize("ext", [".gif", ".webp"])
def test_save_animation(tmp_path, ext):
    frames = _two_frames() + [Image.new("RGB", (8, 8), WHITE)]
    path = save_animation(frames, tmp_path / "anim" / f"a{ext}", duration_ms=120, recipe={"frames": 3})
    with Image.open(path) as im:
        assert im.n_frames == 3
        assert im.info.get("loop") == 0
        im.seek(1)
        assert close(px(im.convert("RGB"), (4, 4)), BLUE, 8)
    assert close(px(load_image(path), (4, 4)), RED, 8)
    assert json.loads(sidecar_path(path).read_text())["recipe"] == {"frames": 3}
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_save_animation_refusals(tmp_path):
    with raises_naming("a.gif", "at least one frame"):
        save_animation([], tmp_path / "a.gif")
    with raises_naming("a.gif", "frame 1"):
        save_animation([Image.new("RGB", (8, 8)), Image.new("RGB", (9, 8))], tmp_path / "a.gif")
    with raises_naming("a.mp4", ".gif, .webp"):
        save_animation(_two_frames(), tmp_path / "a.mp4")
    assert list(tmp_path.iterdir()) == []


def test_a_picture_full_of_fine_detail_saves_as_jpeg_with_its_recipe(tmp_path):
    """An optimised JPEG is made in one buffer Pillow sizes at about a byte a pixel; noise at
    quality 92 needs about two. A dream that busy must still be saved, recipe and all."""
    src = noise(400, 300)
    path = save_image(src, tmp_path / "busy.jpg", _recipe())
    back = load_image(path)
    assert back.size == src.size
    assert np.abs(np.asarray(back).astype(int) - np.asarray(src).astype(int)).mean() < 40
    assert read_embedded_recipe(path) == _recipe()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
