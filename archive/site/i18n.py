"""The interface language: English, 简体中文 and Español, chosen by ?lang=, cookie or browser."""

from __future__ import annotations

from flask import Flask, Response, request
from flask_babel import Babel, get_locale

# UI locale (Babel's name) -> the BCP 47 tag used for metadata and in <html lang>.
UI_LOCALES: dict[str, str] = {"en": "en", "zh_Hans": "zh-Hans", "es": "es"}
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "zh_Hans": "简体中文", "es": "Español"}
COOKIE = "memoria_lang"


def _locale_of(tag: str) -> str | None:
    """The UI locale for a language tag (any Chinese -> zh_Hans), or None."""
    primary = tag.replace("_", "-").split("-")[0].lower()
    return {"en": "en", "zh": "zh_Hans", "es": "es"}.get(primary)


def select_locale() -> str:
    """The reader's interface locale: ?lang=, then the cookie, then Accept-Language, then en."""
    for tag in (request.args.get("lang"), request.cookies.get(COOKIE)):
        if tag and (chosen := _locale_of(tag)):
            return chosen
    for tag, _ in request.accept_languages:
        if chosen := _locale_of(tag):
            return chosen
    return "en"


def ui_language() -> str:
    """The BCP 47 tag of the current interface language (for <html lang> and metadata)."""
    return UI_LOCALES.get(str(get_locale()), "en")


def preferred_languages() -> list[str]:
    """The reader's languages for metadata: the interface language, the browser's, then English."""
    langs = [ui_language()]
    langs += [lang for lang, _ in request.accept_languages if lang != "*"]
    return [*langs, "en"]


def _remember_choice(resp: Response) -> Response:
    chosen = request.args.get("lang")
    if chosen and (locale := _locale_of(chosen)):
        resp.set_cookie(COOKIE, locale, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return resp


def register(app: Flask) -> None:
    """Set up Flask-Babel with the catalogues in archive/translations."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    Babel(app, locale_selector=select_locale)
    app.after_request(_remember_choice)

    @app.context_processor
    def language_context() -> dict[str, object]:
        return {"lang": ui_language(), "ui_locale": str(get_locale()),
                "language_names": LANGUAGE_NAMES}
