"""Guess a source's format (for --format auto) from its name and its first few kilobytes."""

from __future__ import annotations

import re
from pathlib import Path

HEAD_BYTES = 8192
_TABULAR = {".csv": "csv", ".tsv": "csv"}
_RDF = {".ttl": "rdf", ".jsonld": "rdf", ".rdf": "rdf", ".nt": "rdf", ".nq": "rdf", ".trig": "rdf",
        ".owl": "rdf"}
# The first start tag after the prolog, comments, PIs and DOCTYPE: <prefix:name ...
_ROOT = re.compile(rb"<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)([^>]*)>?", re.DOTALL)
_SKIP = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)", re.DOTALL)
_XMLNS = re.compile(rb"xmlns(?::([\w.-]+))?\s*=\s*[\"']([^\"']*)[\"']")
_PREFIX_IN_OAI = re.compile(rb"metadataPrefix\s*=\s*[\"']([^\"']+)[\"']")
_OAI_PAYLOADS = (
    (rb"http://www.openarchives.org/OAI/2.0/oai_dc/", "dc"),
    (rb"http://purl.org/dc/elements/1.1/", "dc"),
    (rb"http://www.loc.gov/mods/", "mets"),
    (rb"http://www.loc.gov/METS/", "mets"),
    (rb"http://www.lido-schema.org", "lido"),
    (rb"http://www.loc.gov/MARC21/slim", "marcxml"),
    (rb"urn:isbn:1-931666-22-9", "ead"),
    (rb"http://ead3.archivists.org/schema/", "ead"),
)
_OAI_PREFIXES = {"oai_dc": "dc", "oai_qdc": "dc", "qdc": "dc", "mods": "mets", "mets": "mets",
                 "lido": "lido", "marcxml": "marcxml", "marc21": "marcxml", "ead": "ead"}


class UnknownFormatError(ValueError):
    """A source whose format could not be told."""


def _root_of(head: bytes) -> tuple[str, str, dict[str, str]]:
    """(local name, namespace, declared namespaces) of the root element in an XML head."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    pos = 0
    while m := _SKIP.match(head, pos):
        if m.end() == pos:
            break
        pos = m.end()
    rest = head[pos:].lstrip()
    m = _ROOT.match(rest)
    if m is None:
        return "", "", {}
    prefix = (m.group(1) or b"")[:-1].decode("ascii", "replace")
    declared = {(p or b"").decode("ascii", "replace"): ns.decode("utf-8", "replace")
                for p, ns in _XMLNS.findall(m.group(3))}
    return m.group(2).decode("ascii", "replace"), declared.get(prefix, ""), declared


def _xml_format(path: Path, head: bytes) -> str:
    name, namespace, _ = _root_of(head)
    lowered = name.lower()
    if not name:
        raise UnknownFormatError(f"{path}: no XML root element in the first {HEAD_BYTES} bytes; "
                                 "name the format with --format")
    if lowered == "ead":
        return "ead"
    if lowered in ("lidowrap", "lido"):
        return "lido"
    if lowered in ("collection", "record") and (
            "MARC21" in namespace or not namespace) and b"leader" in head.lower():
        return "marcxml"
    if lowered in ("mets", "mods", "modscollection"):
        return "mets"
    if lowered == "rdf":
        return "rdf"
    if lowered in ("oai-pmh", "record"):
        if m := _PREFIX_IN_OAI.search(head):
            prefix = m.group(1).decode("ascii", "replace")
            if prefix in _OAI_PREFIXES:
                return _OAI_PREFIXES[prefix]
        for marker, fmt in _OAI_PAYLOADS:
            if marker in head:
                return fmt
        raise UnknownFormatError(f"{path}: an OAI-PMH response whose metadata format could not "
                                 "be told from its first records; name it with --format")
    if lowered in ("dc", "qualifieddc") or "purl.org/dc/" in namespace:
        return "dc"
    raise UnknownFormatError(f"{path}: XML with root <{name}> (namespace {namespace or 'none'!r})"
                             " is not a format Memoria reads; name one with --format")


def detect_format(path: Path) -> str:
    """The reader name for a source: folder, csv, json, iiif, rdf, dc, ead, lido, marcxml, mets."""
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in _TABULAR:
        return _TABULAR[suffix]
    if suffix in _RDF:
        return _RDF[suffix]
    try:
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        raise UnknownFormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if suffix in (".json", ".jsonl"):
        return "iiif" if _is_iiif(head) else "json"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<"):
        return _xml_format(path, stripped)
    if stripped.startswith((b"{", b"[")):
        return "iiif" if _is_iiif(head) else "json"
    raise UnknownFormatError(f"{path}: not a folder, CSV, JSON, RDF or XML source; "
                             "name the format with --format")


_MANIFEST_TYPE = re.compile(rb'"@?type"\s*:\s*"(?:sc:)?(?:Manifest|Collection)"')


def _is_iiif(head: bytes) -> bool:
    # A manifest names the Presentation API context near its start; some (Yale's) only say
    # "@type": "sc:Manifest" with an Image API context at the end of the file.
    return (b'"@context"' in head and b"iiif.io/api/presentation" in head) or bool(
        _MANIFEST_TYPE.search(head))
