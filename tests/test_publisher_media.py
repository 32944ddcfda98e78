"""fit_image / fit_text: the re-encoding and shortening every publisher relies on."""
import io

import numpy as np
import pytest
from PIL import Image

from bot.publishers.media import fit_image, fit_text, split_trailing_hashtags


def _noise(w, h, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4}[mode]
    return Image.fromarray(rng.integers(0, 256, (h, w, channels), dtype=np.uint8), mode)


def _png_bytes(image):
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_image_that_fits_is_returned_unchanged(tmp_path):
    path = tmp_path / "small.png"
    _noise(64, 48).save(path)
    data, mime = fit_image(path, max_bytes=10**6, max_pixels=10**6)
    assert mime == "image/png"
    assert data == path.read_bytes()


def test_downscales_to_pixel_limit_and_keeps_aspect():
    data, mime = fit_image(_png_bytes(_noise(400, 200)), max_bytes=10**7, max_pixels=20_000)
    out = Image.open(io.BytesIO(data))
    assert out.width * out.height <= 20_000
    assert abs(out.width / out.height - 2.0) < 0.05
    assert out.width >= 190  # not shrunk more than needed
    assert mime == "image/png"  # lossless source kept lossless when it fits


def test_steps_down_to_byte_limit_with_jpeg():
    source = _png_bytes(_noise(300, 300))  # noise: ~270 kB as PNG
    data, mime = fit_image(source, max_bytes=20_000, max_pixels=10**6)
    assert mime == "image/jpeg"
    assert len(data) <= 20_000
    assert Image.open(io.BytesIO(data)).format == "JPEG"


def test_only_accepted_formats_are_written_and_alpha_goes_white():
    image = Image.new("RGBA", (50, 50), (0, 0, 0, 0))  # fully transparent
    data, mime = fit_image(image, max_bytes=10**6, max_pixels=10**6, formats=("image/jpeg",))
    assert mime == "image/jpeg"
    out = Image.open(io.BytesIO(data)).convert("RGB")
    assert min(out.getpixel((25, 25))) > 240  # white, not black


def test_unusable_inputs_raise_value_error_with_reason(tmp_path):
    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="not a readable image"):
        fit_image(bad, max_bytes=10**6, max_pixels=10**6)
    with pytest.raises(ValueError, match="cannot read"):
        fit_image(tmp_path / "missing.png", max_bytes=10**6, max_pixels=10**6)
    with pytest.raises(ValueError, match="accepted image types"):
        fit_image(_noise(8, 8), max_bytes=10**6, max_pixels=10**6, formats=("image/gif",))
    with pytest.raises(ValueError, match="cannot make the image fit"):
        fit_image(_noise(200, 200), max_bytes=50, max_pixels=10**6)


def test_fit_text_keeps_short_text_and_cuts_long_text_at_a_word():
    assert fit_text("short", 10) == "short"
    out = fit_text("goldfish and great white shark over the harbour", 20)
    assert len(out) <= 20
    assert out.endswith("…")
    assert out == "goldfish and great…"


def test_fit_text_never_cuts_inside_a_link():
    text = "see https://example.com/a/very/long/path/to/the/photo for the source"
    out = fit_text(text, 40)
    assert len(out) <= 40
    assert "https" not in out  # a half link would be a broken link
    assert out == "see…"


def test_fit_text_with_a_custom_length_function():
    def double(s):
        return 2 * len(s)

    out = fit_text("abcdefghij klmnop", 12, length=double)
    assert double(out) <= 12


def test_fit_text_degenerate_limits():
    assert fit_text("hello", 0) == ""
    assert fit_text("hello world", 1) == "…"


def test_split_trailing_hashtags():
    assert split_trailing_hashtags("A dream\nby X\n#deepdream #art") == ("A dream\nby X", ["#deepdream", "#art"])
    assert split_trailing_hashtags("A #dream in text\nby X") == ("A #dream in text\nby X", [])
    assert split_trailing_hashtags("#only #tags") == ("#only #tags", [])
