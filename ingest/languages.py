"""Language codes and names as catalogues write them, normalised to BCP 47 (ISO 639-1 if any)."""

from __future__ import annotations

import re
import unicodedata

# ISO 639-2 (bibliographic and terminologic) -> ISO 639-1, for the languages heritage
# catalogues actually use; a three-letter code with no two-letter form stays as it is.
ISO639_2_TO_1 = {
    "afr": "af", "alb": "sq", "sqi": "sq", "amh": "am", "ara": "ar", "arm": "hy", "hye": "hy",
    "aze": "az", "baq": "eu", "eus": "eu", "bel": "be", "ben": "bn", "bos": "bs", "bre": "br",
    "bul": "bg", "bur": "my", "mya": "my", "cat": "ca", "chi": "zh", "zho": "zh", "cze": "cs",
    "ces": "cs", "dan": "da", "dut": "nl", "nld": "nl", "eng": "en", "epo": "eo", "est": "et",
    "fao": "fo", "fin": "fi", "fre": "fr", "fra": "fr", "fry": "fy", "geo": "ka", "kat": "ka",
    "ger": "de", "deu": "de", "gla": "gd", "gle": "ga", "glg": "gl", "gre": "el", "ell": "el",
    "grn": "gn", "guj": "gu", "heb": "he", "hin": "hi", "hrv": "hr", "hun": "hu", "ice": "is",
    "isl": "is", "ind": "id", "ita": "it", "jpn": "ja", "kan": "kn", "kaz": "kk", "khm": "km",
    "kor": "ko", "kur": "ku", "lao": "lo", "lat": "la", "lav": "lv", "lit": "lt", "ltz": "lb",
    "mac": "mk", "mkd": "mk", "mal": "ml", "mao": "mi", "mri": "mi", "mar": "mr", "may": "ms",
    "msa": "ms", "mlt": "mt", "mon": "mn", "nep": "ne", "nor": "no", "nob": "nb", "nno": "nn",
    "oci": "oc", "per": "fa", "fas": "fa", "pol": "pl", "por": "pt", "pan": "pa", "que": "qu",
    "roh": "rm", "rum": "ro", "ron": "ro", "rus": "ru", "san": "sa", "slo": "sk", "slk": "sk",
    "slv": "sl", "sme": "se", "som": "so", "spa": "es", "srp": "sr", "swa": "sw", "swe": "sv",
    "tam": "ta", "tat": "tt", "tel": "te", "tgl": "tl", "tha": "th", "tib": "bo", "bod": "bo",
    "tur": "tr", "ukr": "uk", "urd": "ur", "uzb": "uz", "vie": "vi", "wel": "cy", "cym": "cy",
    "yid": "yi", "yor": "yo", "zul": "zu", "grc": "grc", "nah": "nah", "myn": "myn",
}
_TWO_LETTER = frozenset(ISO639_2_TO_1.values())

# Names of languages as they appear in catalogue fields, in English and in the language itself.
NAMES = {
    "english": "en", "inglés": "en", "anglais": "en", "englisch": "en", "英语": "en", "英語": "en",
    "spanish": "es", "español": "es", "castellano": "es", "espagnol": "es", "spanisch": "es",
    "chinese": "zh", "中文": "zh", "汉语": "zh", "漢語": "zh", "chino": "zh", "chinois": "zh",
    "japanese": "ja", "日本語": "ja", "japonés": "ja", "german": "de", "deutsch": "de",
    "alemán": "de", "allemand": "de", "french": "fr", "français": "fr", "francés": "fr",
    "französisch": "fr", "dutch": "nl", "nederlands": "nl", "italian": "it", "italiano": "it",
    "italienisch": "it", "finnish": "fi", "suomi": "fi", "swedish": "sv", "svenska": "sv",
    "latin": "la", "latín": "la", "latein": "la", "latina": "la", "portuguese": "pt",
    "português": "pt", "russian": "ru", "русский": "ru", "korean": "ko", "한국어": "ko",
    "arabic": "ar", "العربية": "ar", "greek": "el", "hebrew": "he", "polish": "pl",
    "polski": "pl", "czech": "cs", "čeština": "cs", "danish": "da", "dansk": "da",
    "norwegian": "no", "norsk": "no", "catalan": "ca", "català": "ca", "náhuatl": "nah",
    "nahuatl": "nah",
}
_BCP47 = re.compile(r"^([A-Za-z]{2,3})((?:-[A-Za-z0-9]{1,8})*)$")
# Codes that say "no language" or "several", which are not a language of a literal.
_NO_LANGUAGE = frozenset({"und", "zxx", "mul", "mis", "none", "|||", "   "})


def normalise_language(value: str | None) -> str | None:
    """BCP 47 tag for a code or name ("eng" -> "en", "Español" -> "es", "zh-Hant"); else None."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value).strip().strip(".").strip()
    if not text:
        return None
    lower = text.lower().replace("_", "-")
    if lower in _NO_LANGUAGE:
        return None
    if lower in NAMES:
        return NAMES[lower]
    m = _BCP47.match(lower)
    if not m:
        return None
    primary, rest = m.group(1), m.group(2)
    if len(primary) == 3:
        if primary not in ISO639_2_TO_1:
            return None
        primary = ISO639_2_TO_1[primary]
    elif primary not in _TWO_LETTER:
        return None
    return primary + _subtags(rest)


def _subtags(rest: str) -> str:
    """Canonical case of BCP 47 subtags: script Title case, region upper case."""
    out = []
    for part in rest.split("-")[1:]:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif len(part) == 2 and part.isalpha():
            out.append(part.upper())
        else:
            out.append(part)
    return "".join(f"-{p}" for p in out)
