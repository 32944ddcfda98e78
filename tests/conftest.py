import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PHOTOS = ROOT / "photos"


@pytest.fixture
def photo_path() -> Path:
    return PHOTOS / "chelsea.jpg"
