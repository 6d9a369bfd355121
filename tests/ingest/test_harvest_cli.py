"""`memoria harvest` against a real OAI-PMH server on 127.0.0.1, and `--format auto`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from archive.cli import main
from archive.settings import Settings
from tests.conftest import BASE_URL, CORPUS
from tests.ingest.oai_server import OaiServer, corpus_records, paged, running_server

EUR = CORPUS / "oai_dc" / "eur_dspace_listrecords_oai_dc_2003.xml"


@pytest.fixture
def server() -> Iterator[OaiServer]:
    with running_server() as s:
        yield s


def memoria(settings: Settings, *args: str, allow_private: bool = True):  # type: ignore[no-untyped-def]
    env = {"MEMORIA_BASE_URL": BASE_URL, "MEMORIA_FSYNC": "no",
           "MEMORIA_HARVEST_ALLOW_PRIVATE": "yes" if allow_private else "no"}
    return CliRunner().invoke(main, ["--home", str(settings.home), *args], env=env,
                              catch_exceptions=False)


def test_harvest_command(settings: Settings, server: OaiServer) -> None:
    server.serve_pages(paged(corpus_records(EUR), 6, "2024-05-01T10:00:00Z"))
    result = memoria(settings, "harvest", server.url)
    assert result.exit_code == 0, result.output
    assert "16 read = 16 accepted (16 created) + 0 rejected" in result.output
    first_harvest = len(server.requests)
    again = memoria(settings, "harvest", server.url)
    assert again.exit_code == 0, again.output
    assert "16 unchanged" in again.output
    assert server.requests[first_harvest].get("from") == "2024-05-01T10:00:00Z"


def test_loopback_is_refused_by_default(settings: Settings, server: OaiServer) -> None:
    server.serve_pages(paged(corpus_records(EUR), 6, "2024-05-01T10:00:00Z"))
    result = memoria(settings, "harvest", server.url, allow_private=False)
    assert result.exit_code == 3
    assert "0 accepted" in result.output
    assert server.requests == []


@pytest.mark.parametrize(("path", "reader"), [
    ("ead/stanford_a0011_ead2002.xml", "ead"),
    ("lido/msk-gent_lido.xml", "lido"),
    ("marcxml/loc_batch_marcxml.xml", "marcxml"),
    ("oai_dc/dpla_rumsey_record_oai_dc.xml", "dc"),
    ("iiif/v3_cookbook_0001-mvm-image.json", "iiif"),
    ("edm_rdf/ut-benson_relaciones-geograficas_edm.rdf", "rdf"),
])
def test_format_auto_picks_the_reader(settings: Settings, path: str, reader: str) -> None:
    result = memoria(settings, "ingest", str(CORPUS / path), "--json")
    assert result.exit_code in {0, 3}, result.output
    assert f'"reader": "{reader}"' in result.output
    assert os.path.isdir(settings.storage_root)
