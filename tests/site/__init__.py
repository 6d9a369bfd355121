"""Tests of the researcher's pages; `ensure_catalogues` compiles the .mo files as make setup does."""

from __future__ import annotations

from pathlib import Path

TRANSLATIONS = Path(__file__).resolve().parents[2] / "archive" / "translations"


def ensure_catalogues() -> list[Path]:
    """Compile every messages.po whose .mo is missing or older (what `make setup` does)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    built = []
    for po in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as f:
                catalog = read_po(f, locale=po.parts[-3])
            tmp = mo.with_suffix(".mo.tmp")
            with tmp.open("wb") as f:
                write_mo(f, catalog)
            tmp.replace(mo)
        built.append(mo)
    return built
