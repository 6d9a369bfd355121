"""Turn the free-text dates of catalogues into a span of years (begin, end)."""

from __future__ import annotations

import re
from dataclasses import dataclass

ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}
CHINESE_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}

_APPROX = re.compile(
    r"^(?:ca\.?|c\.|circa|about|approx\.?|hacia|aprox\.?|aproximadamente|约|約)\s*", re.IGNORECASE
)
_ERA_BC = re.compile(r"\s*(?:BC|B\.C\.|BCE|a\.\s?C\.|a\.C\.)$", re.IGNORECASE)
_ERA_AD = re.compile(r"^(?:AD|A\.D\.)\s*|\s*(?:AD|CE|d\.\s?C\.|d\.C\.)$", re.IGNORECASE)
_ISO_DATE = re.compile(r"^(-?\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T[\d:.]+Z?)?$")
_YEAR = re.compile(r"^(-?\d{1,4})$")
_RANGE = re.compile(r"^(.+?)\s*(?:-|–|—|/|to|a|al|hasta|至|～|~)\s*(.+)$", re.IGNORECASE)
_DECADE_UNCERTAIN = re.compile(r"^(\d{3})-?\?$")
_DECADE = re.compile(r"^(\d{3})0'?s$")
_CENTURY_EN = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)\s+century$", re.IGNORECASE)
_CENTURY_ES = re.compile(r"^siglo\s+([IVXLC]+|\d{1,2})$", re.IGNORECASE)
_CENTURY_ZH = re.compile(r"^(?:公元)?(前)?(\d{1,2}|[一二三四五六七八九十]+)世[纪紀]$")


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


def _chinese_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, units = text.partition("十")
        return (CHINESE_DIGITS.get(tens, 1) if tens else 1) * 10 + CHINESE_DIGITS.get(units, 0)
    return CHINESE_DIGITS[text]


def _century(n: int, bc: bool = False) -> tuple[int, int]:
    if bc:
        return (-(n * 100) + 1, -((n - 1) * 100))
    return ((n - 1) * 100 + 1, n * 100)


def _single(text: str) -> tuple[int, int] | None:
    """Parse one date expression (no range) into a span of years."""
    text = _APPROX.sub("", text.strip()).strip().rstrip(".")
    bc = bool(_ERA_BC.search(text))
    text = _ERA_AD.sub("", _ERA_BC.sub("", text)).strip()
    if m := _ISO_DATE.match(text):
        year = int(m.group(1))
        year = -year + 1 if bc and year > 0 else year
        return (year, year)
    if m := _YEAR.match(text):
        year = int(m.group(1))
        year = -year + 1 if bc and year > 0 else year
        return (year, year)
    if m := _DECADE_UNCERTAIN.match(text) or _DECADE.match(text):
        decade = int(m.group(1)) * 10
        return (decade, decade + 9)
    if m := _CENTURY_EN.match(text):
        return _century(int(m.group(1)), bc)
    if m := _CENTURY_ES.match(text):
        token = m.group(1)
        return _century(int(token) if token.isdigit() else _roman(token), bc)
    if m := _CENTURY_ZH.match(text):
        return _century(_chinese_number(m.group(2)), bc or bool(m.group(1)))
    return None


def parse_years(text: str) -> YearSpan | None:
    """Parse a catalogue date ("1890", "ca. 1890", "1890-1899", "189-?", "siglo XIX") or None."""
    label = " ".join(text.split())
    if not label or len(label) > 100:
        return None
    whole = _single(label)
    if whole is not None:
        return YearSpan(whole[0], whole[1], label)
    if m := _RANGE.match(label):
        left, right = m.group(1), m.group(2)
        # "500 BC - AD 850" and "500-450 BC": an era written once applies to both ends
        if _ERA_BC.search(right) and not _ERA_BC.search(left) and not _ERA_AD.search(left):
            left = f"{left} BC"
        start, end = _single(left), _single(right)
        if start and end and start[0] <= end[1]:
            return YearSpan(start[0], end[1], label)
    return None
