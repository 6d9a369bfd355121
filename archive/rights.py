"""Rights: map what catalogues write to RightsStatements.org and Creative Commons URIs."""

from __future__ import annotations

import re
from functools import lru_cache

NOT_EVALUATED = "http://rightsstatements.org/vocab/CNE/1.0/"
_RS = re.compile(r"^https?://rightsstatements\.org/(?:vocab|page)/([A-Za-z-]+)/1\.0/?$")
_CC = re.compile(r"^https?://creativecommons\.org/(licenses|publicdomain)/([a-z-]+)/([0-9.]+)/?"
                 r"(?:[a-z]{2}/?)?(?:deed\.[A-Za-z-]+|legalcode)?$")
_CC_NAME = re.compile(r"^cc[\s-]?(by(?:[\s-](?:nc|sa|nd)){0,2})(?:[\s-]+([0-9.]+))?$", re.I)
_WORDS = {
    "cc0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "cc0 1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "public domain": "https://creativecommons.org/publicdomain/mark/1.0/",
    "public domain mark": "https://creativecommons.org/publicdomain/mark/1.0/",
    "pdm": "https://creativecommons.org/publicdomain/mark/1.0/",
    "dominio público": "https://creativecommons.org/publicdomain/mark/1.0/",
    "公有领域": "https://creativecommons.org/publicdomain/mark/1.0/",
    "in copyright": "http://rightsstatements.org/vocab/InC/1.0/",
    "copyright not evaluated": NOT_EVALUATED,
    "no known copyright": "http://rightsstatements.org/vocab/NKC/1.0/",
}


@lru_cache(maxsize=4096)  # pure; a batch repeats the same few statements record after record
def normalise_rights(text: str) -> str | None:
    """The canonical rights URI for a statement or URI, or None when it cannot be placed."""
    value = " ".join(text.split())
    if m := _RS.match(value):
        return f"http://rightsstatements.org/vocab/{m.group(1)}/1.0/"
    if m := _CC.match(value):
        return f"https://creativecommons.org/{m.group(1)}/{m.group(2)}/{m.group(3)}/"
    if mapped := _WORDS.get(value.lower().rstrip(".")):
        return mapped
    if m := _CC_NAME.match(value):
        kind = m.group(1).lower().replace(" ", "-")
        return f"https://creativecommons.org/licenses/{kind}/{m.group(2) or '4.0'}/"
    return None
