"""Language codes and names normalised to BCP 47 / ISO 639-1."""

from __future__ import annotations

import pytest

from ingest.languages import normalise_language


@pytest.mark.parametrize("value, expected", [
    ("eng", "en"), ("spa", "es"), ("chi", "zh"), ("zho", "zh"), ("jpn", "ja"), ("ger", "de"),
    ("deu", "de"), ("dut", "nl"), ("nld", "nl"), ("fre", "fr"), ("fra", "fr"), ("ita", "it"),
    ("fin", "fi"), ("swe", "sv"), ("lat", "la"), ("English", "en"), ("Español", "es"),
    ("中文", "zh"), ("Deutsch", "de"), ("Latin", "la"), ("EN", "en"), ("en-gb", "en-GB"),
    ("zh-hant", "zh-Hant"), ("zh_Hans_CN", "zh-Hans-CN"), (" fre. ", "fr"), ("grc", "grc"),
    ("Español", "es"),  # decomposed "ñ" (NFD) is the same name
])
def test_known_codes_and_names(value: str, expected: str) -> None:
    assert normalise_language(value) == expected


@pytest.mark.parametrize("value", [None, "", "und", "zxx", "mul", "|||", "true", "xx", "qqq",
                                   "Klingon", "12"])
def test_unknown_or_no_language_is_none(value: str | None) -> None:
    assert normalise_language(value) is None
