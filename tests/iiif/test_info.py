"""info.json documents for 3.0 and 2.1."""

from __future__ import annotations

from pathlib import Path

from iiif.image_request import Limits
from iiif.info import info_json
from iiif.pyramid import build_pyramid
from tests.iiif.conftest import FERNS


def test_info_3(tmp_path: Path) -> None:
    """3.0 document: id from the argument, level2, sizes, tiles and the extras."""
    info = build_pyramid(FERNS, tmp_path)
    doc = info_json(
        info, "https://example.org/iiif/3/ferns", "3", Limits(max_width=2000, max_area=4_000_000)
    )
    assert doc["@context"] == "http://iiif.io/api/image/3/context.json"
    assert doc["id"] == "https://example.org/iiif/3/ferns"
    assert doc["type"] == "ImageService3" and doc["profile"] == "level2"
    assert doc["protocol"] == "http://iiif.io/api/image"
    assert (doc["width"], doc["height"]) == (2626, 3620)
    assert doc["maxWidth"] == 2000 and doc["maxArea"] == 4_000_000 and "maxHeight" not in doc
    assert doc["tiles"] == [{"width": 512, "height": 512, "scaleFactors": [1, 2, 4, 8]}]
    assert doc["sizes"][0] == {"width": 329, "height": 453}
    assert all(s["width"] <= 2000 and s["width"] * s["height"] <= 4_000_000 for s in doc["sizes"])
    assert set(doc["extraFormats"]) == {"webp", "tif", "gif"}
    assert {"gray", "bitonal"} <= set(doc["extraQualities"])
    assert {"mirroring", "rotationArbitrary", "sizeUpscaling"} <= set(doc["extraFeatures"])


def test_info_2(tmp_path: Path) -> None:
    """2.1 document: @id, profile list with formats, qualities and supports."""
    info = build_pyramid(FERNS, tmp_path)
    doc = info_json(info, "https://example.org/iiif/2/ferns", "2")
    assert doc["@context"] == "http://iiif.io/api/image/2/context.json"
    assert doc["@id"] == "https://example.org/iiif/2/ferns"
    profile = doc["profile"]
    assert profile[0] == "http://iiif.io/api/image/2/level2.json"
    assert {"mirroring", "rotationArbitrary", "sizeAboveFull"} <= set(profile[1]["supports"])
    assert "webp" in profile[1]["formats"] and "bitonal" in profile[1]["qualities"]
    assert profile[1]["maxArea"] == 25_000_000
