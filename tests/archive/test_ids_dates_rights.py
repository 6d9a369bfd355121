"""Record ids, date spans and rights URIs."""

from __future__ import annotations

import pytest

from archive.dates import parse_years
from archive.ids import IdentifierError, is_record_id, record_id
from archive.rights import normalise_rights


def test_record_ids_are_stable_and_readable() -> None:
    assert record_id("demo", "GZ-0001") == "demo-GZ-0001"
    assert record_id("demo", "GZ-0001") == record_id("demo", " GZ-0001 ")
    assert record_id("tate", "A00001") != record_id("demo", "A00001")


def test_unsafe_local_ids_are_hashed_into_safe_ids() -> None:
    rid = record_id("inah", "MNA/10-2 34 (ñ)")
    assert is_record_id(rid)
    assert rid.startswith("inah-_")
    assert rid == record_id("inah", "MNA/10-2 34 (ñ)")
    assert rid != record_id("inah", "MNA/10-2 34 (n)")


@pytest.mark.parametrize("bad", ["", "Demo", "de-mo", "x" * 33])
def test_bad_namespaces_are_refused(bad: str) -> None:
    with pytest.raises(IdentifierError):
        record_id(bad, "1")


@pytest.mark.parametrize("hostile", ["../etc/passwd", "demo-a/b", "demo-a\x00", "demo-..",
                                     "DEMO-1", "demo-" + "a" * 200, "demo-a b"])
def test_hostile_strings_are_not_record_ids(hostile: str) -> None:
    assert not is_record_id(hostile)


@pytest.mark.parametrize(("text", "begin", "end"), [
    ("1894", 1894, 1894),
    ("ca. 1890", 1890, 1890),
    ("1888-1894", 1888, 1894),
    ("189-?", 1890, 1899),
    ("1890s", 1890, 1899),
    ("18th century", 1701, 1800),
    ("siglo XIX", 1801, 1900),
    ("siglo XVI - siglo XVII", 1501, 1700),
    ("19世纪", 1801, 1900),
    ("1888-05-01", 1888, 1888),
    ("-0500/0800", -500, 800),
    ("500 BC - AD 850", -499, 850),
])
def test_dates_become_year_spans(text: str, begin: int, end: int) -> None:
    span = parse_years(text)
    assert span is not None, text
    assert (span.begin, span.end) == (begin, end)


@pytest.mark.parametrize("text", ["", "Tang dynasty (traditional)", "sometime", "1900-1800"])
def test_unreadable_dates_give_none(text: str) -> None:
    assert parse_years(text) is None


@pytest.mark.parametrize(("text", "uri"), [
    ("CC0", "https://creativecommons.org/publicdomain/zero/1.0/"),
    ("https://creativecommons.org/licenses/by/4.0/deed.es",
     "https://creativecommons.org/licenses/by/4.0/"),
    ("CC BY-NC 4.0", "https://creativecommons.org/licenses/by-nc/4.0/"),
    ("http://rightsstatements.org/page/InC/1.0/?language=en", None),
    ("http://rightsstatements.org/vocab/InC/1.0/", "http://rightsstatements.org/vocab/InC/1.0/"),
    ("Public Domain", "https://creativecommons.org/publicdomain/mark/1.0/"),
    ("all rights reserved maybe", None),
])
def test_rights_are_normalised(text: str, uri: str | None) -> None:
    assert normalise_rights(text) == uri
