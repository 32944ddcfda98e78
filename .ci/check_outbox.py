"""CI: after the README's first command, the outbox gallery must show a dreamt picture.

Reads the outbox's own records (one JSON per post), and checks that the post's picture is a
real image that the gallery page shows. Exits 1 with the reason otherwise."""
import json
import sys
from pathlib import Path

from PIL import Image


def main(outbox: Path) -> int:
    posts = sorted(outbox.glob("*.json"))
    page = outbox / "index.html"
    if not posts:
        return fail(f"no post in {outbox}")
    if not page.is_file():
        return fail(f"no gallery page {page}")
    html = page.read_text(encoding="utf-8")
    for record in posts:
        post = json.loads(record.read_text(encoding="utf-8"))
        image = outbox / post["image"]
        with Image.open(image) as im:
            im.load()
            size = im.size
        if min(size) < 64:
            return fail(f"{image} is only {size[0]}×{size[1]}")
        if post["image"] not in html:
            return fail(f"the gallery page does not show {post['image']}")
        print(f"outbox: {post['image']} ({size[0]}×{size[1]}) shown in {page}")
    return 0


def fail(why: str) -> int:
    print(f"check_outbox: {why}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "data/demo/outbox")))
