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


# Real strings from the corpus (file in the comment) that were not read before.
@pytest.mark.parametrize(("text", "begin", "end"), [
    ("清乾隆", 1736, 1795),  # palace-museum-beijing_embroidery_zh.csv, 时代
    ("清光绪", 1875, 1908),
    ("清宣统", 1909, 1911),
    ("明崇祯", 1628, 1644),
    ("明万历", 1573, 1620),
    ("清晚期", 1851, 1911),
    ("清", 1644, 1911),
    ("明末", 1573, 1644),
    ("南宋", 1127, 1279),
    ("民国", 1912, 1949),
    ("光绪十五年（1889）", 1889, 1889),  # shanghai-library_immovable-heritage-sites_zh.json
    ("民国二十年", 1931, 1931),
    ("民国22年", 1933, 1933),
    ("光绪三十三年丁未正月二十四", 1907, 1907),
    ("乾隆五十八年", 1793, 1793),  # kyoto_toho_catalogue.tsv
    ("崇禎中", 1628, 1644),
    ("October 6, 1995", 1995, 1995),  # ead/bentley_umich-bhl-0312_ead2002.xml
    ("1958 Oct 16", 1958, 1958),  # ead/beinecke_hayward_ead2002.xml
    ("1846 Jan", 1846, 1846),
    ("April, 1995", 1995, 1995),
    ("1979-06/1979-06", 1979, 1979),
    ("2003-11/2004-02", 2003, 2004),
    ("1854-82, n.d.", 1854, 1882),
    ("1863-[74]", 1863, 1874),
    ("[ca. 1845]", 1845, 1845),
    ("1921?", 1921, 1921),  # lido/kenom_coins_lidowrap.xml
    ("25.10.1923", 1923, 1923),
    ("8.1923", 1923, 1923),
    ("um 1480 oder 1482/1485", 1480, 1485),  # lido/lido-v1.1-example_la-primavera.xml
    ("VIIe/VIIIe siècle", 601, 800),  # iiif/v2_biblissima_florus-dispersus.json
    ("around 900 or 10th century", 900, 1000),  # iiif/v2_e-codices_gau-fragment.json
    ("1821-02-13 y 1821-03-12", 1821, 1821),  # oai_harvest_json/inah_mediateca_oai_dc.json
    ("5 de abril de 1764", 1764, 1764),
    ("noviembre de 1677", 1677, 1677),
])
def test_corpus_dates_become_year_spans(text: str, begin: int, end: int) -> None:
    span = parse_years(text)
    assert span is not None, text
    assert (span.begin, span.end, span.label) == (begin, end, text)


@pytest.mark.parametrize(("text", "begin", "end"), [
    ("光绪十年", 1884, 1884),
    ("光绪十年三月", 1884, 1884),
    ("乾隆五十年", 1785, 1785),
    ("康熙二十五年", 1686, 1686),
    ("康熙廿五年", 1686, 1686),
    ("民国元年", 1912, 1912),
    ("民國22年3月27日", 1933, 1933),
    ("洪武元年", 1368, 1368),
    ("永乐十九年", 1421, 1421),
    ("萬曆四十八年", 1620, 1620),
    ("雍正", 1723, 1735),
    ("嘉庆", 1796, 1820),
    ("道光", 1821, 1850),
    ("咸丰", 1851, 1861),
    ("同治", 1862, 1874),
    ("乾隆年间", 1736, 1795),
    ("公元前221年", -220, -220),
    ("early 19th century", 1801, 1833),
    ("finales del siglo XVIII", 1768, 1800),
    ("primera mitad del siglo XIX", 1801, 1850),
    ("2. Hälfte 15. Jh.", 1451, 1500),
    ("siglo XV-XVI", 1401, 1600),
    ("5th-6th century", 401, 600),
])
def test_reign_eras_numerals_and_parts_of_centuries(text: str, begin: int, end: int) -> None:
    span = parse_years(text)
    assert span is not None, text
    assert (span.begin, span.end) == (begin, end)


@pytest.mark.parametrize("text", ["", "Tang dynasty (traditional)", "sometime", "1900-1800",
                                  "n.d.", "undated", "未知", "n.y. Sep 11", "Kolkata (India)",
                                  "乾隆九十年", "1888-13", "廿五"])
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
