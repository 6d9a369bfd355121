"""The interface language: English, 简体中文 and Español, chosen by ?lang=, cookie or browser."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import flask_babel
from flask import Flask, Response, current_app, g, has_app_context, request
from flask_babel import Babel, get_locale, get_translations
from flask_babel.speaklater import LazyString
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

# UI locale (Babel's name) -> the BCP 47 tag used for metadata, ?lang= and <html lang>.
UI_LOCALES: dict[str, str] = {"en": "en", "zh_Hans": "zh-Hans", "es": "es"}
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "zh_Hans": "简体中文", "es": "Español"}
COOKIE = "memoria_lang"


def N_(message: str) -> str:
    """Mark a string for the catalogues without translating it here (it is translated later)."""
    return message


# Labels made outside templates (archive/views.py FIELDS) that templates show with _(label).
FIELD_LABELS = (
    N_("Other title"), N_("Description"), N_("Creator"), N_("Contributor"), N_("Date"),
    N_("Period"), N_("Place"), N_("Subject"), N_("Type"), N_("Kind of object"),
    N_("Material"), N_("Extent"), N_("Format"), N_("Language"), N_("Publisher"),
    N_("Source"), N_("Identifier"), N_("Level"), N_("Rights"), N_("Data provider"),
)


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
    try:  # asked for a dozen times a page (every hit's language choice): once per request
        return str(g.memoria_ui_language)
    except AttributeError:
        g.memoria_ui_language = UI_LOCALES.get(str(get_locale()), "en")
        return str(g.memoria_ui_language)


def preferred_languages() -> list[str]:
    """The reader's languages for metadata: the interface language, the browser's, then English."""
    langs = [ui_language()]
    langs += [lang for lang, _ in request.accept_languages if lang != "*"]
    return list(dict.fromkeys([*langs, "en"]))


def url_with_lang(tag: str) -> str:
    """The current page's URL (path and query) with ?lang= set to `tag`."""
    try:  # twice a page for each language (hreflang links and the switcher): once each
        done: dict[str, str] = g.memoria_lang_urls
    except AttributeError:
        done = g.memoria_lang_urls = {}
    if tag not in done:
        done[tag] = _url_with_lang(tag)
    return done[tag]


def _url_with_lang(tag: str) -> str:
    """url_with_lang, computed."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    if len(request.query_string) > 2048:  # a refused, overlong address is not repeated
        args = []
    # One leading slash: "//host" or "/\\host" in a 404's path would link to another site.
    path = "/" + request.path.lstrip("/\\")
    return f"{request.script_root}{path}?{urlencode([*args, ('lang', tag)])}"


def has_endpoint(name: str) -> bool:
    """Whether the app has a route with this endpoint name (templates link only to those)."""
    return name in current_app.view_functions


def _remember_choice(resp: Response) -> Response:
    chosen = request.args.get("lang")
    if chosen and (locale := _locale_of(chosen)):
        resp.set_cookie(COOKIE, locale, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                        secure=request.is_secure)
    if request.blueprint is None and resp.mimetype in ("text/html", "application/json"):
        # The page's words (and its metadata) depend on these; shared caches must know.
        resp.vary.add("Cookie")
        resp.vary.add("Accept-Language")
    return resp


def request_translations() -> Any:
    """The catalogue of the request's language, found once per request (not once per string)."""
    try:
        return g.memoria_translations
    except AttributeError:
        g.memoria_translations = get_translations()
        return g.memoria_translations


def gettext(message: str, **variables: Any) -> str:
    """flask_babel.gettext over the catalogue found once per request (field and chip labels)."""
    if not has_app_context():
        return str(flask_babel.gettext(message, **variables))
    text = str(request_translations().ugettext(message))
    return text % variables if variables else text


def lazy_gettext(message: str) -> LazyString:
    """Flask-Babel's lazy_gettext over the request's catalogue found once per request.

    Flask-Babel's own looks the locale and catalogue up on every use: hundreds a search page
    (facet and sort labels). Same name, so the catalogue extraction still finds the strings.
    """
    return LazyString(lambda: request_translations().ugettext(message))


@pass_context
def _template_gettext(context: Context, message: str, **variables: Any) -> str:
    """Jinja's newstyle gettext (translated, Markup when autoescaping, then % variables), with
    the result of a message without variables kept on its catalogue (~50 a page, all repeats)."""
    translations = request_translations()
    autoescape = context.eval_ctx.autoescape
    if variables:
        return _trusted(translations.ugettext(message), autoescape) % variables
    done: dict[tuple[str, bool], str] = translations.__dict__.setdefault("_memoria_done", {})
    try:
        return done[message, autoescape]
    except KeyError:
        # Jinja formats even without variables ("%%" becomes "%"): so does the kept result.
        rv = done[message, autoescape] = _trusted(translations.ugettext(message), autoescape) % {}
        return rv


def _trusted(text: str, autoescape: bool) -> str:
    """A catalogue message as Jinja's gettext takes it: Markup when autoescaping."""
    # Safe: the catalogues are the project's own; the values formatted in are escaped by %.
    return Markup(text) if autoescape else text  # noqa: S704


def _bind_template_gettext(app: Flask) -> None:
    # Flask-Babel's template callables look the catalogue up on every call (a few hundred per
    # page); the same callables over a catalogue found once per request.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: request_translations().ugettext(s),
        ngettext=lambda s, p, n: request_translations().ungettext(s, p, n),
        pgettext=lambda c, s: request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: request_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    # _() straight to the kept translations, not through Jinja's alias and two context calls.
    app.jinja_env.globals["_"] = app.jinja_env.globals["gettext"] = _template_gettext


def register(app: Flask) -> None:
    """Set up Flask-Babel with the catalogues in archive/translations (English without them)."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    Babel(app, locale_selector=select_locale)
    _bind_template_gettext(app)
    app.after_request(_remember_choice)
    app.add_template_global(has_endpoint)
    app.add_template_global(url_with_lang)

    @app.context_processor
    def language_context() -> dict[str, object]:
        return {"lang": ui_language(), "ui_locale": str(get_locale()),
                "language_names": LANGUAGE_NAMES, "language_tags": UI_LOCALES}
