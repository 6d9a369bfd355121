"""Turn the free-text dates of catalogues into a span of years (begin, end)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from archive.dates_zh import chinese_number, chinese_years, fraction

ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}
MONTHS = {
    # English and Spanish month names and their usual abbreviations
    "january", "jan", "february", "feb", "march", "mar", "april", "apr", "may", "june", "jun",
    "july", "jul", "august", "aug", "september", "sept", "sep", "october", "oct", "november",
    "nov", "december", "dec", "enero", "ene", "febrero", "marzo", "abril", "abr", "mayo",
    "junio", "julio", "agosto", "ago", "septiembre", "setiembre", "set", "octubre", "noviembre",
    "diciembre", "dic",
}

_APPROX = re.compile(
    r"^(?:ca\.?|c\.|circa|about|around|approx\.?|hacia|aprox\.?|aproximadamente|um|vers|"
    r"en torno a|约|約)\s*", re.IGNORECASE
)
_UNDATED = re.compile(r"^(?:n\.\s?d\.?|s\.\s?f\.?|undated|sin fecha|s/f|未知|不详|不詳)$",
                      re.IGNORECASE)
_ALSO_UNDATED = re.compile(r",\s*(?:n\.\s?d\.?|s\.\s?f\.?|undated|sin fecha)$", re.IGNORECASE)
_ERA_BC = re.compile(r"\s*(?:BC|B\.C\.|BCE|a\.\s?C\.|a\.C\.)$", re.IGNORECASE)
_ERA_AD = re.compile(r"^(?:AD|A\.D\.)\s*|\s*(?:AD|CE|d\.\s?C\.|d\.C\.)$", re.IGNORECASE)
_ISO_DATE = re.compile(r"^(-?\d{4})(?:-(0[1-9]|1[0-2])(?:-(\d{2}))?)?(?:T[\d:.]+Z?)?$")
_YEAR = re.compile(r"^(-?\d{1,4}|\d{4}\s*\?)$")  # "1921?": the year, uncertain
_DOTTED = re.compile(r"^(?:\d{1,2}\.){1,2}\s*(\d{4})$")  # 25.10.1923, 8.1923
# Where a range may be cut: signs with or without spaces, words only between spaces.
_RANGE_CUT = re.compile(r"\s*(?:-|–|—|/|至|～|~)\s*|\s+(?:to|a|al|hasta|bis|à)\s+",
                        re.IGNORECASE)
# Either of two dates: the span covers both ("1480 oder 1482/1485", "1821-02-13 y 1821-03-12").
_ALTERNATIVES = re.compile(r"\s+(?:or|oder|ou|o|u|y|and|und|et)\s+|\s*[;；]\s*", re.IGNORECASE)
_SHORT_END = re.compile(r"^\d{1,2}$")
_DECADE_UNCERTAIN = re.compile(r"^(\d{3})-?\?$")
_DECADE = re.compile(r"^(\d{3})0'?s$")
_CENTURY_EN = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)\s+century$", re.IGNORECASE)
_CENTURY_ES = re.compile(r"^siglo\s+([IVXLC]+|\d{1,2})$", re.IGNORECASE)
_CENTURY_FR = re.compile(r"^([IVXLC]+|\d{1,2})(?:e|ème|eme|er)\s+siècle$", re.IGNORECASE)
_CENTURY_DE = re.compile(r"^(\d{1,2})\.\s*(?:Jh\.?|Jhdt\.?|Jahrhundert)$", re.IGNORECASE)
_CENTURY_ZH = re.compile(r"^(?:公元)?(前)?(\d{1,2}|[一二三四五六七八九十廿]+)世[纪紀]$")
# A part of a century (or any span): early / mid / late, first or second half.
_PART = re.compile(
    r"^(?:(early|beginning of the|principios del|inicios del|comienzos del|anfang(?: des)?|"
    r"début du)|(mid|mid-|middle of the|mediados del|mitte(?: des)?|milieu du)|"
    r"(late|end of the|finales del|fines del|ende(?: des)?|fin du)|"
    r"(first half of the|1st half of the|primera mitad del|1\. hälfte(?: des)?|"
    r"erste hälfte(?: des)?|première moitié du)|"
    r"(second half of the|2nd half of the|segunda mitad del|2\. hälfte(?: des)?|"
    r"zweite hälfte(?: des)?|seconde moitié du|deuxième moitié du))\s*(.+)$", re.IGNORECASE)
_PARTS = ("early", "mid", "late", "first half", "second half")
_WORDS = re.compile(r"[^\W\d_]+\.?|\d+")


@dataclass(frozen=True)
class YearSpan:
    """A span of years, both ends inclusive; negative years are BC (astronomical: 1 BC = 0)."""

    begin: int
    end: int
    label: str

    def __post_init__(self) -> None:
        if self.begin > self.end:
            raise ValueError(f"span begins after it ends: {self.begin} > {self.end}")


def _roman(text: str) -> int:
    values = [ROMAN[c] for c in text.upper()]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def _century(n: int, bc: bool = False) -> tuple[int, int]:
    if bc:
        return (-(n * 100) + 1, -((n - 1) * 100))
    return ((n - 1) * 100 + 1, n * 100)


def _number(token: str) -> int:
    return int(token) if token.isdigit() else _roman(token)


def _calendar(text: str) -> tuple[int, int] | None:
    """A day or month in words: "October 6, 1995", "1958 Oct 16", "5 de abril de 1764"."""
    words = _WORDS.findall(text)
    if _WORDS.sub("", text).strip(" ,.") or not words:
        return None  # something other than words, numbers, commas and dots
    years = [w for w in words if w.isdigit() and len(w) in (3, 4)]
    days = [w for w in words if w.isdigit() and len(w) <= 2]
    names = [w.rstrip(".").lower() for w in words if not w.isdigit()]
    months = [n for n in names if n in MONTHS]
    if (len(years) != 1 or len(months) != 1 or len(days) > 1
            or any(n not in MONTHS and n not in ("de", "del", "of", "the") for n in names)):
        return None
    year = int(years[0])
    return (year, year)


def _single(text: str) -> tuple[int, int] | None:
    """Parse one date expression (no range) into a span of years."""
    text = _APPROX.sub("", text.strip()).strip().rstrip(".")
    if m := _PART.match(text):
        whole = _single(m.group(6))
        part = next(p for p, g in zip(_PARTS, m.groups()[:5], strict=True) if g)
        return fraction(whole, part) if whole and whole[1] > whole[0] else None
    bc = bool(_ERA_BC.search(text))
    text = _ERA_AD.sub("", _ERA_BC.sub("", text)).strip()
    if m := _ISO_DATE.match(text) or _YEAR.match(text) or _DOTTED.match(text):
        year = int(m.group(1).rstrip(" ?"))
        year = -year + 1 if bc and year > 0 else year
        return (year, year)
    if m := _DECADE_UNCERTAIN.match(text) or _DECADE.match(text):
        decade = int(m.group(1)) * 10
        return (decade, decade + 9)
    if m := (_CENTURY_EN.match(text) or _CENTURY_ES.match(text) or _CENTURY_FR.match(text)
             or _CENTURY_DE.match(text)):
        return _century(_number(m.group(1)), bc)
    if m := _CENTURY_ZH.match(text):
        return _century(chinese_number(m.group(2)), bc or bool(m.group(1)))
    return chinese_years(text) or _calendar(text)


def _borrow(left: str, right: str) -> tuple[str, str]:
    """Let the ends of a range share what is written once: "VIIe/VIIIe siècle", "1854-82",
    "siglo XV-XVI", "500-450 BC"."""
    if _ERA_BC.search(right) and not _ERA_BC.search(left) and not _ERA_AD.search(left):
        left = f"{left} BC"
    if _SHORT_END.match(right) and re.fullmatch(r"\d{4}", left):
        right = left[: 4 - len(right)] + right
    if _single(left) is None and " " in right:
        left = f"{left} {right.split(' ', 1)[1]}"  # the unit after the second end
    if _single(right) is None and " " in left:
        right = f"{left.rsplit(' ', 1)[0]} {right}"  # the word before the first end
    return left, right


def _range(text: str) -> tuple[int, int] | None:
    """One date or a range of two, cut at the first place where both ends can be read."""
    whole = _single(text)
    if whole is not None:
        return whole
    for cut in _RANGE_CUT.finditer(text):
        left, right = text[: cut.start()].strip(), text[cut.end():].strip()
        if not left or not right:
            continue
        start, end = (_single(t) for t in _borrow(left, right))
        if start and end and start[0] <= end[1]:
            return (start[0], end[1])
    return None


# Readers ask for the same strings many times (a check, then the mapping; a catalogue's few
# hundred distinct dates over thousands of records); YearSpan is frozen, so sharing is safe.
@lru_cache(maxsize=8192)
def parse_years(text: str) -> YearSpan | None:
    """Parse a catalogue date ("1890", "ca. 1890", "1890-1899", "189-?", "siglo XIX",
    "光绪十年", "October 6, 1995") into a span of years, or None."""
    label = " ".join(text.split())
    if not label or len(label) > 100:
        return None
    # Brackets mark a date the cataloguer supplied ("[ca. 1845]", "1863-[74]"): still a date.
    plain = _ALSO_UNDATED.sub("", label.replace("[", "").replace("]", "")).strip()
    if _UNDATED.match(plain):
        return None
    spans = [_range(part) for part in _ALTERNATIVES.split(plain) if part.strip()]
    if not spans or any(span is None for span in spans):
        return None
    known = [span for span in spans if span is not None]
    begin, end = min(s[0] for s in known), max(s[1] for s in known)
    return YearSpan(begin, end, label) if begin <= end else None
