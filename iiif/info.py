"""info.json documents for IIIF Image API 3.0 and 2.1."""

from __future__ import annotations

from typing import Any

from iiif.image_request import Limits, Version
from iiif.pyramid import PyramidInfo

CONTEXT_3 = "http://iiif.io/api/image/3/context.json"
CONTEXT_2 = "http://iiif.io/api/image/2/context.json"
PROFILE_3 = "http://iiif.io/api/image/3/level2.json"
PROFILE_2 = "http://iiif.io/api/image/2/level2.json"
PROTOCOL = "http://iiif.io/api/image"

EXTRA_FORMATS = ["webp", "tif", "gif"]
EXTRA_QUALITIES = ["color", "gray", "bitonal"]
# Features beyond level 2 (3.0 names); level 2 itself already implies the rest.
EXTRA_FEATURES_3 = [
    "canonicalLinkHeader",
    "mirroring",
    "profileLinkHeader",
    "rotationArbitrary",
    "sizeUpscaling",
]
SUPPORTS_2 = [
    "baseUriRedirect",
    "canonicalLinkHeader",
    "cors",
    "jsonldMediaType",
    "mirroring",
    "profileLinkHeader",
    "regionByPct",
    "regionByPx",
    "regionSquare",
    "rotationArbitrary",
    "rotationBy90s",
    "sizeAboveFull",
    "sizeByConfinedWh",
    "sizeByDistortedWh",
    "sizeByH",
    "sizeByPct",
    "sizeByW",
    "sizeByWh",
]


def _sizes(info: PyramidInfo, limits: Limits) -> list[dict[str, int]]:
    # Every level's whole image within the limits, smallest first as the spec recommends.
    return [
        {"width": lv.width, "height": lv.height}
        for lv in reversed(info.levels)
        if (limits.max_width is None or lv.width <= limits.max_width)
        and (limits.max_height is None or lv.height <= limits.max_height)
        and (limits.max_area is None or lv.width * lv.height <= limits.max_area)
    ]


def _tiles(info: PyramidInfo) -> list[dict[str, Any]]:
    return [
        {
            "width": info.tile_size,
            "height": info.tile_size,
            "scaleFactors": info.scale_factors,
        }
    ]


def _limit_fields(limits: Limits) -> dict[str, int]:
    fields = {}
    if limits.max_width is not None:
        fields["maxWidth"] = limits.max_width
    if limits.max_height is not None:
        fields["maxHeight"] = limits.max_height
    if limits.max_area is not None:
        fields["maxArea"] = limits.max_area
    if "maxHeight" in fields and "maxWidth" not in fields:
        # The spec forbids maxHeight without maxWidth.
        del fields["maxHeight"]
    return fields


def info_json(
    info: PyramidInfo, service_id: str, version: Version, limits: Limits | None = None
) -> dict[str, Any]:
    """The info.json document for an image whose service URI is `service_id`."""
    limits = limits or Limits()
    if version == "3":
        return {
            "@context": CONTEXT_3,
            "id": service_id,
            "type": "ImageService3",
            "protocol": PROTOCOL,
            "profile": "level2",
            "width": info.width,
            "height": info.height,
            **_limit_fields(limits),
            "sizes": _sizes(info, limits),
            "tiles": _tiles(info),
            "extraQualities": EXTRA_QUALITIES,
            "extraFormats": EXTRA_FORMATS,
            "extraFeatures": EXTRA_FEATURES_3,
        }
    return {
        "@context": CONTEXT_2,
        "@id": service_id,
        "protocol": PROTOCOL,
        "width": info.width,
        "height": info.height,
        "sizes": _sizes(info, limits),
        "tiles": _tiles(info),
        "profile": [
            PROFILE_2,
            {
                "formats": ["jpg", "png", *EXTRA_FORMATS],
                "qualities": ["default", *EXTRA_QUALITIES],
                "supports": SUPPORTS_2,
                **_limit_fields(limits),
            },
        ],
    }


def profile_uri(version: Version) -> str:
    """The compliance profile URI for the Link rel="profile" header."""
    return PROFILE_3 if version == "3" else PROFILE_2


def context_uri(version: Version) -> str:
    """The JSON-LD context URI used as the media-type profile parameter."""
    return CONTEXT_3 if version == "3" else CONTEXT_2
