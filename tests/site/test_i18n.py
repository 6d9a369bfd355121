"""The interface in English, 简体中文 and Español: complete catalogues, the choice of language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from flask import Flask
from lxml import html as lxml_html

from ingest.mapping import load_mapping
from ingest.pipeline import run_batch
from ingest.registry import get_reader
from tests.site import TRANSLATIONS, ensure_catalogues

ROOT = TRANSLATIONS.parents[1]
LOCALES = ("zh_Hans", "es")
# The keywords `make messages` extracts, besides pybabel's own (_, gettext, ngettext, ...).
KEYWORDS = ("-k", "N_", "-k", "lazy_gettext", "-k", "lazy_ngettext:1,2")
# What the nav says in each language (from the catalogues).
NAV = {"en": ["Search", "Collections", "Places", "Labels"],
       "zh-Hans": ["检索", "馆藏", "地点", "标签"],
       "es": ["Buscar", "Colecciones", "Lugares", "Etiquetas"]}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Every msgid of the templates and modules, extracted now as the README says."""
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    CommandLineInterface().run([
        "pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), *KEYWORDS, "-o", str(pot),
        str(ROOT / "archive"),
    ])
    with pot.open("rb") as f:
        ids = [m.id for m in read_po(f) if m.id]
    return [i if isinstance(i, str) else i[0] for i in ids]


@pytest.fixture
def loaded(app: Flask, sample_source: Path) -> Flask:
    """The app with the sample collection ingested and the catalogues compiled."""
    ensure_catalogues()
    run_batch(app.extensions["memoria"], get_reader("csv"), sample_source / "records.csv",
              options={"mapping": load_mapping(sample_source / "mapping.toml"),
                       "images_dir": sample_source})
    return app


def _catalog(locale: str):  # type: ignore[no-untyped-def]
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=locale)


def test_extraction_finds_the_layout_strings(extracted: list[str]) -> None:
    assert {"Skip to content", "Search the archive", "Collections", "Nothing here"} <= \
        set(extracted)
    assert "Kind of object" in extracted  # marked with N_() in archive/site/i18n.py
    assert "Relevance" in extracted  # lazy_gettext in archive/site/search_page.py


@pytest.mark.parametrize("locale", LOCALES)
def test_every_string_is_translated_and_none_is_fuzzy(extracted: list[str], locale: str) -> None:
    catalog = _catalog(locale)
    missing = [i for i in extracted if i not in catalog or not _translated(catalog[i].string)]
    assert missing == [], f"{locale}: no translation for {missing}"
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert fuzzy == [], f"{locale}: fuzzy entries {fuzzy}"


@pytest.mark.parametrize("locale", LOCALES)
def test_translations_keep_their_placeholders(locale: str) -> None:
    catalog = _catalog(locale)
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check() if errors]
    assert problems == []
    for message in catalog:
        if message.id and isinstance(message.id, str):
            assert sorted(re.findall(r"%\(\w+\)s", message.id)) == \
                sorted(re.findall(r"%\(\w+\)s", message.string)), message.id


def _translated(value: object) -> bool:
    if isinstance(value, tuple):
        return all(value)
    return bool(value)


def _nav(html: str) -> list[str]:
    tree = lxml_html.fromstring(html)
    return [a.text_content().strip() for a in tree.cssselect("nav.primary a")]


def _lang(html: str) -> str:
    return lxml_html.fromstring(html).get("lang")


@pytest.mark.parametrize("tag", ["en", "zh-Hans", "es"])
def test_pages_render_in_each_language(loaded: Flask, tag: str) -> None:
    client = loaded.test_client()
    for path in ("/", "/item/museo-I1", "/search?q=templo", "/no-such-page"):
        resp = client.get(f"{path}{'&' if '?' in path else '?'}lang={tag}")
        html = resp.get_data(as_text=True)
        assert _lang(html) == tag, path
        assert _nav(html) == NAV[tag], path
    switcher = lxml_html.fromstring(client.get(f"/search?q=templo&lang={tag}").text)
    current = switcher.cssselect("nav.languages a[aria-current]")
    assert [a.get("hreflang") for a in current] == [tag]
    # Each switcher link keeps the page and its query, and only changes the language.
    hrefs = [a.get("href") for a in switcher.cssselect("nav.languages a")]
    assert hrefs == [f"/search?q=templo&lang={t}" for t in ("en", "zh-Hans", "es")]


def test_the_chosen_language_is_remembered(loaded: Flask) -> None:
    client = loaded.test_client()
    first = client.get("/?lang=zh-Hans")
    assert "memoria_lang=zh_Hans" in first.headers["Set-Cookie"]
    later = client.get("/item/museo-I1", headers={"Accept-Language": "es"})
    assert _lang(later.text) == "zh-Hans"
    assert "跳至正文" in later.text
    assert "Cookie" in later.headers["Vary"] and "Accept-Language" in later.headers["Vary"]
    client.get("/?lang=es")
    assert _nav(client.get("/").text) == NAV["es"]


def test_the_browser_language_is_used_without_a_choice(loaded: Flask) -> None:
    client = loaded.test_client()
    spanish = client.get("/", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
    assert _lang(spanish.text) == "es" and _nav(spanish.text) == NAV["es"]
    chinese = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert _lang(chinese.text) == "zh-Hans"
    assert "Set-Cookie" not in spanish.headers  # only an explicit choice is remembered


@pytest.mark.parametrize("headers,query", [
    ({"Accept-Language": "fr-FR,fr;q=0.9,de;q=0.5"}, ""),
    ({}, "?lang=klingon"),
    ({"Accept-Language": "*"}, ""),
])
def test_unknown_languages_fall_back_to_english(loaded: Flask, headers: dict[str, str],
                                                query: str) -> None:
    resp = loaded.test_client().get(f"/{query}", headers=headers)
    assert resp.status_code == 200
    assert _lang(resp.text) == "en" and _nav(resp.text) == NAV["en"]
    assert "Set-Cookie" not in resp.headers


def test_metadata_follows_the_interface_language(loaded: Flask) -> None:
    client = loaded.test_client()
    # The interface language comes first, even when the browser prefers another.
    english = client.get("/item/museo-I1?lang=en", headers={"Accept-Language": "es"})
    assert lxml_html.fromstring(english.text).cssselect("h1")[0].text_content().strip() == \
        "Church of Santo Domingo"
    spanish = client.get("/item/museo-I1?lang=es")
    assert lxml_html.fromstring(spanish.text).cssselect("h1")[0].text_content().strip() == \
        "Templo de Santo Domingo"
    # No Chinese title: the browser's next language, then English.
    chinese = client.get("/item/museo-I1?lang=zh-Hans", headers={"Accept-Language": "es"})
    assert lxml_html.fromstring(chinese.text).cssselect("h1")[0].text_content().strip() == \
        "Templo de Santo Domingo"
    fallback = client.get("/item/museo-I1?lang=zh-Hans", headers={"Accept-Language": "zh"})
    assert lxml_html.fromstring(fallback.text).cssselect("h1")[0].text_content().strip() == \
        "Church of Santo Domingo"
    twin = client.get("/item/museo-I1.json?lang=es").get_json()
    assert twin["title"] == "Templo de Santo Domingo"


def test_english_without_compiled_catalogues(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    from archive.web import create_app

    app = create_app(settings)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(tmp_path / "none")
    app.extensions["babel"].translation_directories = [str(tmp_path / "none")]
    try:
        resp = app.test_client().get("/?lang=zh-Hans")
        assert resp.status_code == 200
        assert _lang(resp.text) == "zh-Hans" and _nav(resp.text) == NAV["en"]
    finally:
        app.extensions["memoria"].close()


@pytest.mark.parametrize("tag,labels", [
    ("en", ["Creator", "Date", "Place", "Subject"]),
    ("zh-Hans", ["创作者", "日期", "地点", "主题"]),
    ("es", ["Autor", "Fecha", "Lugar", "Tema"]),
])
def test_item_page_field_labels_are_translated(loaded: Flask, tag: str,
                                               labels: list[str]) -> None:
    html = loaded.test_client().get(f"/item/museo-I1?lang={tag}").text
    shown = [dt.text_content().strip()
             for dt in lxml_html.fromstring(html).cssselect("dl.metadata dt")]
    assert set(labels) <= set(shown), shown
