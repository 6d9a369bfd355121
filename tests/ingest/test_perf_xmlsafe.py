"""The streaming hardened parser (xmlsafe.iter_elements): same refusals, bounded memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.xmlsafe import XmlRejected, iter_elements

NS = "http://www.lido-schema.org"


def write(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


def test_yields_each_record_once_and_clears_it(tmp_path: Path) -> None:
    records = "".join(f'<lido:lido><lido:id>{n}</lido:id><lido:lido>inner</lido:lido></lido:lido>'
                      for n in range(5))
    path = write(tmp_path / "a.xml", f'<lido:lidoWrap xmlns:lido="{NS}">{records}</lido:lidoWrap>')
    seen = []
    for number, element in iter_elements(path, "lido"):
        seen.append((number, element.findtext(f"{{{NS}}}id")))
        assert element.getprevious() is None  # earlier records were cleared away
    assert seen == [(n + 1, str(n)) for n in range(5)]


def test_entity_reference_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "e.xml", '<!DOCTYPE r [<!ENTITY e "boom">]><r><rec>&e;</rec></r>')
    with pytest.raises(XmlRejected, match="entity"):
        list(iter_elements(path, "rec"))


def test_external_entity_is_never_read(tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.txt", "TOP SECRET")
    path = write(tmp_path / "x.xml", f'<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
                 "<r><rec>&x;</rec></r>")
    try:
        texts = [el.xpath("string()") for _, el in iter_elements(path, "rec")]
    except XmlRejected:
        return
    assert all("TOP SECRET" not in text for text in texts)


def test_xinclude_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "i.xml", '<r xmlns:xi="http://www.w3.org/2001/XInclude"><rec>'
                 '<xi:include href="/etc/passwd" parse="text"/></rec></r>')
    with pytest.raises(XmlRejected, match="XInclude"):
        list(iter_elements(path, "rec"))


def test_malformed_document_raises_after_the_good_records(tmp_path: Path) -> None:
    path = write(tmp_path / "m.xml", "<r><rec>1</rec><rec>2</rec><rec>3</oops></r>")
    got = []
    with pytest.raises(XmlRejected, match="not well-formed"):
        for _, element in iter_elements(path, "rec"):
            got.append(element.text)
    assert got == ["1", "2"]
