"""A third sweep of inputs nobody had tried (after test_unseen_inputs_*.py): pictures in CMYK with
their own profile, animations, an output beside an older dream of the same name, and request
texts as Mastodon and phones really write them. Each test failed before the fix it guards."""
from __future__ import annotations

import io
import itertools
import json
import struct
import zlib

import pytest
from PIL import Image, ImageCms

from bot_helpers import mastodon_mock_fixtures
from dreamer.cli import main
from dreamer.image_io import load_image
from requests_helpers import SEED, client_for, load, reply_text, worker_for

TINY = ["--model", "tiny", "--steps", "1", "-q", "--seed", "5", "--device", "cpu", "-c", "goldfish"]
server, mock = mastodon_mock_fixtures(SEED)


# --- CMYK with its own profile ------------------------------------------------------------------
def _s15(x: float) -> bytes:
    return struct.pack(">i", round(x * 65536))


def _lab8(rgb: tuple[int, int, int]) -> tuple[int, ...]:
    """An sRGB colour as ICC v2 8-bit Lab (L*255/100, a+128, b+128), by lcms."""
    lab = ImageCms.profileToProfile(Image.new("RGB", (1, 1), rgb), ImageCms.createProfile("sRGB"),
                                    ImageCms.createProfile("LAB"), outputMode="LAB")
    return lab.getpixel((0, 0))


def _cmyk_profile() -> bytes:
    """A CMYK printer profile (lut8 A2B0 to Lab) whose red and green are swapped against the
    naive CMYK->RGB formula: by it, cyan ink prints magenta. Real CMYK profiles (SWOP, FOGRA,
    from Photoshop) differ from the formula the same way, less."""
    def colour(c: int, m: int, y: int, k: int) -> tuple[int, int, int]:
        return round(255 * (1 - m) * (1 - k)), round(255 * (1 - c) * (1 - k)), round(255 * (1 - y) * (1 - k))

    clut = b"".join(bytes(_lab8(colour(*ink))) for ink in itertools.product((0, 1), repeat=4))
    ramp = bytes(range(256))
    identity = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    lut = b"mft1" + bytes(4) + bytes([4, 3, 2, 0]) + identity + ramp * 4 + clut + ramp * 3
    desc = b"desc" + bytes(4) + struct.pack(">I", 10) + b"test CMYK\0" + bytes(8 + 70)
    wtpt = b"XYZ " + bytes(4) + _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    tags = [(b"desc", desc), (b"wtpt", wtpt), (b"A2B0", lut)]
    start = 128 + 4 + 12 * len(tags)
    table = body = b""
    for sig, data in tags:
        data += bytes(-len(data) % 4)
        table += sig + struct.pack(">II", start + len(body), len(data))
        body += data
    header = (struct.pack(">I", start + len(body)) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"prtrCMYKLab "
              + bytes(12) + b"acsp" + bytes(28) + _s15(0.9642) + _s15(1.0) + _s15(0.8249))
    return header + bytes(128 - len(header)) + struct.pack(">I", len(tags)) + table + body


def test_a_cmyk_jpeg_is_read_through_its_own_cmyk_profile(tmp_path):
    # The loader took only RGB profiles: a CMYK one (every press-ready JPEG from Photoshop has
    # one) was ignored and the inks converted by the naive formula.
    p = tmp_path / "print.jpg"
    Image.new("CMYK", (12, 8), (255, 0, 0, 0)).save(p, quality=100, icc_profile=_cmyk_profile())
    r, g, b = load_image(p).getpixel((3, 3))
    assert r > 200 and b > 200 and g < 60, (r, g, b)  # magenta, as the profile says; not cyan


def test_a_cmyk_jpeg_without_a_profile_still_reads_by_the_formula(tmp_path):
    p = tmp_path / "print.jpg"
    Image.new("CMYK", (12, 8), (255, 0, 0, 0)).save(p, quality=100)
    r, g, b = load_image(p).getpixel((3, 3))
    assert r < 60 and g > 200 and b > 200, (r, g, b)


def test_a_broken_cmyk_profile_costs_the_colour_management_not_the_picture(tmp_path):
    p = tmp_path / "print.jpg"
    Image.new("CMYK", (12, 8), (255, 0, 0, 0)).save(p, quality=100, icc_profile=_cmyk_profile()[:300])
    r, g, b = load_image(p).getpixel((3, 3))
    assert r < 60 and g > 200 and b > 200, (r, g, b)


# --- animations ---------------------------------------------------------------------------------
def _animation(fmt: str, first: Image.Image | None = None) -> bytes:
    frames = [Image.new("RGB", (40, 30), c) for c in ((250, 0, 0), (0, 0, 250), (0, 250, 0))]
    if first is not None:
        frames[0] = first
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


@pytest.mark.parametrize("fmt, ext", [("GIF", "gif"), ("WEBP", "webp"), ("PNG", "png")])
def test_the_cli_says_it_dreams_an_animations_first_frame(tmp_path, capsys, fmt, ext):
    # The first frame was dreamt without a word: a user who sent a GIF could not tell why the
    # dream stood still.
    src = tmp_path / f"anim.{ext}"
    src.write_bytes(_animation(fmt))
    assert main([str(src), "-o", str(tmp_path / "out.png"), *TINY]) == 0
    err = capsys.readouterr().err
    assert "animated" in err and "first frame" in err and str(src) in err


def test_a_still_picture_gets_no_animation_note(tmp_path, capsys):
    src = tmp_path / "still.png"
    Image.new("RGB", (40, 30), (200, 100, 0)).save(src)
    assert main([str(src), "-o", str(tmp_path / "out.png"), *TINY]) == 0
    assert "first frame" not in capsys.readouterr().err


@pytest.mark.parametrize("mime, name, fmt", [("image/gif", "anim.gif", "GIF"), ("image/webp", "anim.webp", "WEBP")])
def test_a_request_with_an_animation_is_dreamt_from_its_first_frame_and_says_so(mock, tmp_path, mime, name, fmt):
    # Mastodon files an animated GIF as "gifv": the bot answered "I need a photo" to a GIF it
    # could read. An animated WebP was dreamt from its first frame without a word.
    c = client_for(mock, "ann")
    m = c.media_post(io.BytesIO(_animation(fmt)), mime_type=mime, file_name=name)
    status = c.status_post("@dreambot goldfish", media_ids=[m["id"]])
    worker_for(tmp_path, mock).tick()
    text = reply_text(mock, status["id"])
    assert "dreamt with goldfish" in text and "first frame" in text, text


# --- an animation that starts blank -------------------------------------------------------------
def _scene(size: tuple[int, int] = (40, 30)) -> Image.Image:
    """A picture with something in it: a diagonal colour ramp."""
    w, h = size
    return Image.frombytes("RGB", size, bytes(v for y in range(h) for x in range(w)
                                              for v in (x * 255 // w, y * 255 // h, 128)))


def _fade_in(fmt: str, blank: int, steps: int = 0) -> bytes:
    """`blank` frames of one colour each, `steps` frames fading the scene in from black, then the scene."""
    scene = _scene()
    frames = [Image.new("RGB", scene.size, (k, k, k)) for k in range(blank)]
    frames += [Image.eval(scene, lambda v, k=k: v * k // (steps + 1)) for k in range(1, steps + 1)] + [scene]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0,
                   **({"lossless": True} if fmt == "WEBP" else {}))
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_an_animation_that_starts_blank_is_dreamt_from_its_first_frame_with_something_in_it(fmt):
    # The first frame of a fade-in is all one colour, and was dreamt so: blank.
    from dreamer.image_io import animation_frame

    image = load_image(_fade_in(fmt, blank=3))
    assert animation_frame(image) == 3
    assert image.getpixel((39, 29)) == pytest.approx(_scene().getpixel((39, 29)), abs=12)
    # a fade-in is taken once it has faded in, not at its first, darkest, frame that is not blank
    image = load_image(_fade_in(fmt, blank=2, steps=8))
    assert 2 + 6 <= animation_frame(image) <= 2 + 8, animation_frame(image)


@pytest.mark.parametrize("frames, first", [
    ("scene first", _scene().getpixel((39, 29))),
    ("blank too long", (0, 0, 0)),  # the look gives up after 30 frames
    ("all blank", (250, 0, 0)),  # every frame one colour: none is better than the first
])
def test_an_animation_not_blank_at_first_or_blank_too_long_gives_its_first_frame(frames, first):
    from dreamer.image_io import animation_frame

    image = load_image({"scene first": lambda: _animation("GIF", first=_scene()),
                        "blank too long": lambda: _fade_in("GIF", blank=40),
                        "all blank": lambda: _animation("GIF")}[frames]())
    assert animation_frame(image) == 0
    assert image.getpixel((39, 29)) == pytest.approx(first, abs=12)


def test_an_apng_whose_first_frame_is_transparent_gives_its_second():
    from dreamer.image_io import animation_frame

    frames = [Image.new("RGBA", (40, 30), (0, 0, 0, 0)), _scene().convert("RGBA")]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert animation_frame(load_image(buf.getvalue())) == 1


def test_the_cli_says_which_frame_of_an_animation_that_starts_blank_it_dreams(tmp_path, capsys):
    src = tmp_path / "fade.gif"
    src.write_bytes(_fade_in("GIF", blank=3))
    assert main([str(src), "-o", str(tmp_path / "out.png"), *TINY]) == 0
    err = capsys.readouterr().err
    assert f"{src} is animated; dreaming its frame 4, as it starts blank" in err, err


def test_a_request_with_an_animation_that_starts_blank_says_which_frame_was_dreamt(mock, tmp_path):
    c = client_for(mock, "ann")
    m = c.media_post(io.BytesIO(_fade_in("WEBP", blank=2)), mime_type="image/webp", file_name="fade.webp")
    status = c.status_post("@dreambot goldfish", media_ids=[m["id"]])
    worker_for(tmp_path, mock).tick()
    text = reply_text(mock, status["id"])
    assert "dreamt with goldfish" in text and "animated: I dreamt its frame 3, as it starts blank" in text, text


# --- an output beside an older dream of the same name ------------------------------------------
def test_an_output_in_a_new_format_does_not_take_an_older_dreams_sidecar(tmp_path, photo, capsys):
    # `-o x.png` beside an earlier `-o x.jpg`: both write their recipe to x.json, and the jpg's
    # was replaced (it is a dream's sidecar, so the foreign-file check let it go).
    jpg, png = tmp_path / "x.jpg", tmp_path / "x.png"
    assert main([str(photo), "-o", str(jpg), *TINY, "--strength", "0.3"]) == 0
    before = (tmp_path / "x.json").read_text()
    capsys.readouterr()
    assert main([str(photo), "-o", str(png), *TINY]) == 2
    err = capsys.readouterr().err
    assert "x.json" in err and "x.jpg" in err
    assert (tmp_path / "x.json").read_text() == before and not png.exists()
    assert main([str(photo), "-o", str(jpg), *TINY]) == 0  # its own name: its own sidecar, replaced


def test_a_sidecar_names_its_dream_and_an_older_one_goes_by_the_pictures_beside_it(tmp_path):
    from dreamer.image_io import ImageError, check_sidecar

    side = tmp_path / "x.json"
    (tmp_path / "x.mp4").write_bytes(b"video")
    (tmp_path / "x.png").write_bytes(b"its poster frame")  # a bot dive's poster, no dream of its own
    side.write_text(json.dumps({"recipe": {}, "software": "lucid-dream-bot 1", "file": "x.mp4"}))
    check_sidecar(tmp_path / "x.mp4")  # the dive made again: its own sidecar
    with pytest.raises(ImageError, match="x.mp4"):
        check_sidecar(tmp_path / "x.webp")
    side.write_text(json.dumps({"recipe": {}, "software": "lucid-dream-bot 1"}))  # from before "file"
    with pytest.raises(ImageError, match="x.json"):
        check_sidecar(tmp_path / "x.webp")
    (tmp_path / "x.mp4").unlink()
    (tmp_path / "x.png").unlink()
    check_sidecar(tmp_path / "x.webp")  # its dream is gone: nothing is lost


@pytest.fixture
def photo(tmp_path):
    p = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (200, 120, 40)).save(p)
    return p


# --- pictures that reach the bot ----------------------------------------------------------------
def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(width + 1))) \
        + chunk(b"IEND", b"")


def test_a_request_picture_past_pillows_bomb_limit_is_too_big_not_unreadable(monkeypatch):
    # A 15000x15000 PNG of a few hundred bytes (a decompression bomb) tripped Pillow's own
    # limit in the size probe, and the reply said "it is not a picture I can read".
    from bot.requests import inputs
    from bot.requests.replies import Refusal
    from bot.sources.fetch import FetchPolicy

    class Got:
        data = _png_header_only(15000, 15000)

    monkeypatch.setattr(inputs, "fetch", lambda url, policy: Got())
    with pytest.raises(inputs.Refuse) as info:
        inputs.load(FetchPolicy(), 16_000_000, "https://example.org/bomb.png")
    assert info.value.kind is Refusal.TOO_BIG
    assert "16,000,000" in info.value.details["detail"]


# --- request texts -----------------------------------------------------------------------------
def _read(html: str, **status) -> tuple[list[tuple[str, float]], tuple]:
    from bot.requests.inputs import labels
    from bot.requests.parse import parse_request, request_text

    text = request_text({"content": html, "mentions": [], **status}).text
    parsed = parse_request(text, labels(), max_classes=3)
    return [(w.name, w.weight) for w in parsed.wishes], parsed.left_out


@pytest.mark.parametrize("text, wishes", [
    ("classes:1,5", [("goldfish", 1.0), ("electric ray", 1.0)]),
    ("classes: 1,5", [("goldfish", 1.0), ("electric ray", 1.0)]),
    ("Classes: 1, 5", [("goldfish", 1.0), ("electric ray", 1.0)]),
    ("class:1", [("goldfish", 1.0)]),
    ("ids: 1,5", [("goldfish", 1.0), ("electric ray", 1.0)]),
    ("classes: goldfish, stingray", [("goldfish", 1.0), ("stingray", 1.0)]),
    ("classes=goldfish:0.5", [("goldfish", 0.5)]),
])
def test_a_classes_label_before_the_list_is_no_class_and_no_weight(text, wishes):
    # "classes:1,5" read "1,5" as the weight 1.5 of a class "classes", and the request was
    # refused as naming no class; "classes: 1,5" lost goldfish (1 became the weight of
    # "classes"), and "classes: goldfish" told the requester it left out "classes".
    assert _read(f"<p>{text}</p>") == (wishes, ())


@pytest.mark.parametrize("text, wishes", [
    ("\uff47\uff4f\uff4c\uff44\uff46\uff49\uff53\uff48\uff1a\uff12", [("goldfish", 2.0)]),  # ｇｏｌｄｆｉｓｈ：２
    ("goldfish\uff1a0.5\uff0cstingray", [("goldfish", 0.5), ("stingray", 1.0)]),  # goldfish：0.5，stingray
    ("\uff11\uff1a\uff12", [("goldfish", 2.0)]),  # １：２
])
def test_a_full_width_colon_and_digits_are_a_weight(text, wishes):
    # A Japanese or Chinese keyboard writes ： and full-width digits: the weight was dropped
    # without a word (goldfish at 1).
    assert _read(f"<p>{text}</p>")[0] == wishes


def test_a_custom_emoji_shortcode_is_no_class_name():
    # Mastodon leaves custom emoji in the content as ":shortcode:" text (listed in `emojis`);
    # ":blobfish:" was refused as an unknown class, and the whole request with it.
    emojis = [{"shortcode": "blobfish", "url": "https://example.org/e.png"},
              {"shortcode": "stingray", "url": "https://example.org/s.png"}]
    assert _read("<p>goldfish :blobfish: :stingray:</p>", emojis=emojis) == ([("goldfish", 1.0)], ())
    assert _read("<p>goldfish :stingray:</p>")[0] == [("goldfish", 1.0), ("stingray", 1.0)]  # no emoji listed


def test_the_bots_own_full_handle_in_the_class_list_is_no_class():
    # The bot is mentioned as "dreambot" (a local account); a client that left its full handle
    # "@dreambot@bots.example" unlinked in the list got "I don't know the class dreambot bots example".
    mentions = [{"acct": "dreambot", "username": "dreambot", "url": "https://bots.example/@dreambot"}]
    got = _read("<p>goldfish, @dreambot@bots.example, stingray</p>", mentions=mentions)
    assert got == ([("goldfish", 1.0), ("stingray", 1.0)], ())


@pytest.mark.parametrize("beside", ["x.png", "x.gif"])
def test_an_older_sidecar_beside_a_dive_and_its_poster_or_preview_stays_the_dives(tmp_path, beside):
    # The bot saves a dive's poster frame as x.png beside x.mp4, `dream --preview` a GIF; a
    # sidecar from before sidecars named their dream belongs to the video, and the dive made
    # again may replace it.
    from dreamer.image_io import check_sidecar

    (tmp_path / "x.mp4").write_bytes(b"video")
    (tmp_path / beside).write_bytes(b"poster or preview")
    (tmp_path / "x.json").write_text('{"recipe": {}, "software": "lucid-dream-bot 1"}', encoding="utf-8")
    check_sidecar(tmp_path / "x.mp4")


def test_the_sidecars_video_suffixes_are_the_videos_the_engine_writes():
    from dreamer.image_save import VIDEO_SUFFIXES
    from dreamer.video import VIDEO_FORMATS

    assert set(VIDEO_SUFFIXES) == set(VIDEO_FORMATS)


def test_a_phones_multi_picture_jpeg_or_a_multi_page_tiff_is_no_animation(tmp_path):
    # Pillow calls both is_animated: an MPO (a phone's HDR gain map, a 3D camera's second eye)
    # and a TIFF of pages are one photo each, and "your picture is animated" would be wrong.
    from dreamer.image_io import load_image, was_animated

    def two() -> list[Image.Image]:  # fresh ones for each file: a save leaves its info on the picture
        return [Image.new("RGB", (64, 48), (200, 40, 40)), Image.new("RGB", (64, 48), (40, 40, 200))]

    for name, fmt in (("phone.jpg", "MPO"), ("pages.tif", "TIFF"), ("moving.gif", "GIF")):
        first, second = two()
        first.save(tmp_path / name, fmt, save_all=True, append_images=[second])
    assert not was_animated(load_image(tmp_path / "phone.jpg"))
    assert not was_animated(load_image(tmp_path / "pages.tif"))
    assert was_animated(load_image(tmp_path / "moving.gif"))


def test_an_older_sidecar_goes_by_a_dream_beside_it_not_by_the_photo(tmp_path):
    # `dream x.jpg -o x.png` made again after sidecars named their dream: x.json (older) is
    # x.png's, and x.jpg is the photo, no dream. A picture carrying its recipe is a dream.
    from dreamer.image_io import ImageError, check_sidecar, save_image

    Image.new("RGB", (32, 32)).save(tmp_path / "x.jpg")
    old = json.dumps({"recipe": {}, "software": "lucid-dream-bot 1"})
    (tmp_path / "x.json").write_text(old)
    check_sidecar(tmp_path / "x.png")
    save_image(Image.new("RGB", (32, 32)), tmp_path / "y.jpg", {"steps": 4})
    (tmp_path / "y.json").write_text(old)
    with pytest.raises(ImageError, match="y.jpg"):
        check_sidecar(tmp_path / "y.png")


def test_a_gif_without_its_still_is_no_picture_to_fetch():
    # Its url is an MP4: fetched, it was refused as "not a picture"; no still yet is no picture.
    from bot.requests.inputs import first_image

    gifv = {"type": "gifv", "url": "https://x.example/a.mp4", "preview_url": None}
    assert first_image({"media_attachments": [gifv]}) is None
    still = first_image({"media_attachments": [{**gifv, "preview_url": "https://x.example/a.png"}]})
    assert still is not None and still.url.endswith("a.png") and still.animated
