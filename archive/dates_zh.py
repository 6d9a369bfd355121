"""Chinese dates: reign eras (光绪十年, 清乾隆), the Republic (民国二十年), dynasties (清晚期)."""

from __future__ import annotations

import re

# Reign eras: name(s) -> (first year, last year) in the Gregorian calendar; year n of an era is
# first + n - 1 (元年 is year 1). Sources: Endymion Wilkinson, "Chinese History: A New Manual"
# (Harvard, 2018), table of Ming and Qing reign periods; Academia Sinica, 兩千年中西曆轉換
# (sinocal.sinica.edu.tw); "List of Chinese era names", Wikipedia. The first year is the
# lunar year the era began (泰昌 lasted from August to December 1620, so it shares 1620 with
# 万历; 建文 was abolished by 永乐 and counted on by some sources: ignored here).
_ERAS: dict[tuple[str, ...], tuple[int, int]] = {
    # Ming 明 (1368-1644)
    ("洪武",): (1368, 1398), ("建文",): (1399, 1402), ("永乐", "永樂"): (1403, 1424),
    ("洪熙",): (1425, 1425), ("宣德",): (1426, 1435), ("正统", "正統"): (1436, 1449),
    ("景泰",): (1450, 1456), ("天顺", "天順"): (1457, 1464), ("成化",): (1465, 1487),
    ("弘治",): (1488, 1505), ("正德",): (1506, 1521), ("嘉靖",): (1522, 1566),
    ("隆庆", "隆慶"): (1567, 1572), ("万历", "萬曆", "萬歷", "万曆"): (1573, 1620),
    ("泰昌",): (1620, 1620), ("天启", "天啟", "天啓"): (1621, 1627),
    ("崇祯", "崇禎"): (1628, 1644),
    # Qing 清 (1644-1911), with the two eras before the conquest of Beijing
    ("天聪", "天聰"): (1627, 1636), ("崇德",): (1636, 1643),
    ("顺治", "順治"): (1644, 1661), ("康熙",): (1662, 1722), ("雍正",): (1723, 1735),
    ("乾隆",): (1736, 1795), ("嘉庆", "嘉慶"): (1796, 1820), ("道光",): (1821, 1850),
    ("咸丰", "咸豐"): (1851, 1861), ("同治",): (1862, 1874), ("光绪", "光緒"): (1875, 1908),
    ("宣统", "宣統"): (1909, 1911),
    # Republic of China 中华民国: 民国元年 = 1912; as a period in mainland catalogues, to 1949.
    ("民国", "民國", "中华民国", "中華民國"): (1912, 1949),
}
ERAS = {name: span for names, span in _ERAS.items() for name in names}
# 民國100年 (2011) is still written in Taiwan: Republic years are not capped.
_OPEN_ENDED = {"民国", "民國", "中华民国", "中華民國"}
# Dynasties (same sources); BC years astronomical (206 BC = -205), as in YearSpan.
_DYNASTIES: dict[tuple[str, ...], tuple[int, int]] = {
    ("商",): (-1599, -1045), ("西周",): (-1045, -770), ("东周", "東周"): (-769, -255),
    ("周",): (-1045, -255), ("春秋",): (-769, -475), ("战国", "戰國"): (-474, -220),
    ("秦",): (-220, -206), ("西汉", "西漢"): (-205, 8), ("东汉", "東漢"): (25, 220),
    ("汉", "漢"): (-205, 220), ("三国", "三國"): (220, 280), ("晋", "晉"): (266, 420),
    ("南北朝",): (420, 589), ("隋",): (581, 618), ("唐",): (618, 907),
    ("五代",): (907, 960), ("辽", "遼"): (916, 1125), ("北宋",): (960, 1127),
    ("南宋",): (1127, 1279), ("宋",): (960, 1279), ("金",): (1115, 1234),
    ("元",): (1271, 1368), ("明", "大明"): (1368, 1644), ("清", "大清"): (1644, 1911),
}
DYNASTIES = {name: span for names, span in _DYNASTIES.items() for name in names}
# Early / middle / late Ming and Qing as Chinese museums divide them (by reigns: 清早期 is
# 顺治-雍正, 清中期 乾隆-道光, 清晚期 咸丰-宣统; 明早期 洪武-宣德, 明中期 正统-隆庆,
# 明晚期 万历-崇祯); other dynasties are cut in thirds.
_PHASES = {
    ("清", "early"): (1644, 1735), ("清", "mid"): (1736, 1850), ("清", "late"): (1851, 1911),
    ("明", "early"): (1368, 1435), ("明", "mid"): (1436, 1572), ("明", "late"): (1573, 1644),
}
_PHASE_WORDS = {"早期": "early", "初期": "early", "初": "early", "前期": "first half",
                "中期": "mid", "中叶": "mid", "中葉": "mid", "晚期": "late", "末期": "late",
                "末": "late", "晚": "late", "后期": "second half", "後期": "second half"}
_FRACTIONS = {"early": (0, 1 / 3), "mid": (1 / 3, 2 / 3), "late": (2 / 3, 1),
              "first half": (0, 1 / 2), "second half": (1 / 2, 1)}
_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "廿": 20, "卅": 30, "百": 100}
_NUMERAL = "[〇零一二三四五六七八九十廿卅百两兩0-9０-９]+"
_PREFIX = "(?:" + "|".join(sorted({*DYNASTIES, "中华", "中華"}, key=len, reverse=True)) + ")?"
_ERA_NAMES = "|".join(sorted(ERAS, key=len, reverse=True))
# 清光绪十年三月, 光绪十年（1884）, 乾隆五十年间, 崇禎中, 清乾隆, 民国元年, 民國22年3月27日
_ERA_DATE = re.compile(
    rf"^{_PREFIX}\s*({_ERA_NAMES})\s*(?:(元|{_NUMERAL})\s*年)?"
    r"(?:[甲乙丙丁戊己庚辛壬癸][子丑寅卯辰巳午未申酉戌亥])?"  # the cyclical year: 光绪三十三年丁未
    rf"(?:[正腊臘冬闰閏]?(?:{_NUMERAL})?月(?:{_NUMERAL}日?)?|年?[间間]|中|时期|時期)?"
    r"\s*(?:[（(]\s*(?:公元)?(\d{3,4})\s*年?\s*[)）])?$")
_DYNASTY = re.compile(
    rf"^({'|'.join(sorted(DYNASTIES, key=len, reverse=True))})(?:代|朝)?"
    rf"({'|'.join(sorted(_PHASE_WORDS, key=len, reverse=True))})?(?:时期|時期)?$")
_WESTERN = re.compile(r"^(?:公元)?(前)?(\d{1,4})\s*年(?:\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?)?$")


def chinese_number(text: str) -> int:
    """A number in Chinese numerals (十, 二十五, 廿三, 一百, 一九八四) or digits."""
    if text.isdigit():
        return int(text)
    if not any(c in _UNITS for c in text):
        return int("".join(str(_DIGITS[c]) for c in text))  # read digit by digit: 一九八四
    total, digit = 0, None
    for c in text:
        if c in _UNITS:
            total += (1 if digit is None else digit) * _UNITS[c] if c in "十百" else _UNITS[c]
            digit = None
        else:
            digit = _DIGITS[c]
    return total + (digit or 0)


def fraction(span: tuple[int, int], part: str) -> tuple[int, int]:
    """A part of a span: early, mid, late (thirds), first half, second half."""
    begin, end = span
    length = end - begin + 1
    low, high = _FRACTIONS[part]
    return begin + round(length * low), begin + round(length * high) - 1


def chinese_years(text: str) -> tuple[int, int] | None:
    """Years of a Chinese date, or None when it is not one this module reads."""
    text = text.strip()
    if m := _ERA_DATE.match(text):
        era, number, western = m.group(1), m.group(2), m.group(3)
        if western:
            return int(western), int(western)  # the catalogue's own conversion wins
        first, last = ERAS[era]
        if number is None:
            return first, last
        year = first + (1 if number == "元" else chinese_number(number)) - 1
        if year > last + 1 and era not in _OPEN_ENDED:
            return None  # 乾隆九十年: no such year; better unread than wrong
        return year, year
    if m := _DYNASTY.match(text):
        name, phase = m.group(1), _PHASE_WORDS.get(m.group(2) or "")
        span = DYNASTIES[name]
        if phase is None:
            return span
        key = "清" if name in ("清", "大清") else "明" if name in ("明", "大明") else name
        return _PHASES.get((key, phase)) or fraction(span, phase)
    if m := _WESTERN.match(text):
        year = int(m.group(2))
        year = -year + 1 if m.group(1) else year
        return year, year
    return None
