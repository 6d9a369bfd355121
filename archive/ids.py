"""Stable record and image identifiers, and the URIs minted from them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

NAMESPACE_PATTERN = re.compile(r"[a-z0-9]{1,32}")
# A local identifier is kept readable in the record id when it is made of these characters;
# anything else (spaces, slashes, non-ASCII) is hashed so that every id is URL- and path-safe.
READABLE_LOCAL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,99}")
RECORD_ID_PATTERN = re.compile(r"[a-z0-9]{1,32}-(?:[A-Za-z0-9][A-Za-z0-9.-]{0,99}|_[0-9a-f]{20})")
IMAGE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class IdentifierError(ValueError):
    """An identifier that cannot be used."""


def check_namespace(namespace: str) -> str:
    """Return the namespace if it is lowercase letters and digits, else raise."""
    if not NAMESPACE_PATTERN.fullmatch(namespace):
        raise IdentifierError(
            f"source namespace {namespace!r} must be 1-32 lowercase letters or digits"
        )
    return namespace


def record_id(namespace: str, local_id: str) -> str:
    """Derive the stable record id from (source namespace, local identifier)."""
    check_namespace(namespace)
    local = local_id.strip()
    if not local:
        raise IdentifierError("empty local identifier")
    if READABLE_LOCAL_PATTERN.fullmatch(local):
        return f"{namespace}-{local}"
    digest = hashlib.sha256(f"{namespace}\x00{local}".encode()).hexdigest()[:20]
    return f"{namespace}-_{digest}"


def is_record_id(value: str) -> bool:
    """Tell whether a string has the shape of a record id (untrusted input check)."""
    return bool(RECORD_ID_PATTERN.fullmatch(value))


def is_image_id(value: str) -> bool:
    """Tell whether a string has the shape of an image id (untrusted input check)."""
    return bool(IMAGE_ID_PATTERN.fullmatch(value)) and ".." not in value


@dataclass(frozen=True)
class Minter:
    """Mints every URI of the record model under the public base URL."""

    base_url: str

    def item(self, rid: str) -> str:
        """The edm:ProvidedCHO, which is also the item page."""
        return f"{self.base_url}/item/{rid}"

    def aggregation(self, rid: str) -> str:
        """The ore:Aggregation of a record."""
        return f"{self.item(rid)}#aggregation"

    def entity(self, rid: str, kind: str, n: int) -> str:
        """A contextual entity (agent, place, concept, timespan) described inside a record."""
        return f"{self.item(rid)}#{kind}-{n}"

    def graph(self, rid: str) -> str:
        """The named graph holding one record in the RDF store."""
        return f"{self.base_url}/record/{rid}"

    def image_service(self, image_id: str) -> str:
        """The IIIF Image API service of an image."""
        return f"{self.base_url}/iiif/3/{image_id}"

    def image(self, image_id: str) -> str:
        """The full image (the edm:WebResource) of an image id."""
        return f"{self.image_service(image_id)}/full/max/0/default.jpg"

    def record_id_of(self, uri: str) -> str | None:
        """The record id of an item URI minted here, or None."""
        prefix = f"{self.base_url}/item/"
        if not uri.startswith(prefix):
            return None
        rid = uri[len(prefix):].split("#", 1)[0]
        return rid if is_record_id(rid) else None
