"""IIIF Change Discovery 1.0: an Activity Streams feed of manifest changes from storage versions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from archive.service import WITHDRAWN_PATH, Archive
from archive.storage import StorageError
from iiif.collections import Hierarchy
from iiif.presentation import NoManifest, manifest_url

DISCOVERY_CONTEXT = "http://iiif.io/api/discovery/1/context.json"
DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True)
class Activity:
    """One change of one manifest: Create, Update or Delete, at the time of a storage version."""

    kind: str
    record_id: str
    version: str
    end_time: datetime


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _had_images(archive: Archive, rid: str, version: str) -> bool:
    try:
        return any(p.startswith("files/") for p in archive.storage.state(rid, version))
    except StorageError:
        return False


def activities(archive: Archive, hierarchy: Hierarchy | None = None) -> list[Activity]:
    """Every manifest activity, oldest first (a record's withdrawal is a Delete)."""
    tree = hierarchy or Hierarchy.load(archive)
    out: list[Activity] = []
    for rid in archive.storage.ids():
        published = rid in tree.nodes and tree.has_manifest(rid)
        versions = archive.history(rid)
        if not versions:
            continue
        withdrawn = archive.is_withdrawn(rid)
        if not published and not withdrawn:
            continue
        live = False
        for n, info in enumerate(versions):
            is_withdrawal = WITHDRAWN_PATH in archive.storage.state(rid, info.version)
            if is_withdrawal:
                # A Delete only for a manifest that was there to delete.
                if live and n > 0 and (published or _had_images(archive, rid,
                                                                versions[n - 1].version)):
                    out.append(Activity("Delete", rid, info.version, info.created))
                live = False
                continue
            if not published and not _had_images(archive, rid, info.version):
                continue
            out.append(Activity("Update" if live else "Create", rid, info.version, info.created))
            live = True
    # Storage keeps times to the second: within one second, keep each record's version order.
    out.sort(key=lambda a: (a.end_time, a.record_id, _version_number(a.version)))
    return out


def _version_number(version: str) -> int:
    return int(version[1:]) if version[1:].isdigit() else 0


def _activity_doc(archive: Archive, activity: Activity) -> dict[str, Any]:
    base = archive.minter.base_url
    return {
        "id": f"{base}/iiif/3/activity/{activity.record_id}/{activity.version}",
        "type": activity.kind,
        "object": {"id": manifest_url(archive.minter, activity.record_id), "type": "Manifest"},
        "endTime": _iso(activity.end_time),
    }


def stream_url(archive: Archive) -> str:
    """The URL of the all-changes OrderedCollection."""
    return f"{archive.minter.base_url}/iiif/3/activity/all-changes"


def page_url(archive: Archive, n: int) -> str:
    """The URL of one OrderedCollectionPage (numbered from 1, oldest first)."""
    return f"{archive.minter.base_url}/iiif/3/activity/page/{n}"


def build_stream(archive: Archive, page: int | None = None,
                 page_size: int = DEFAULT_PAGE_SIZE,
                 hierarchy: Hierarchy | None = None) -> dict[str, Any]:
    """The OrderedCollection of all changes, or one of its pages (newest changes last)."""
    items = activities(archive, hierarchy)
    pages = max(1, math.ceil(len(items) / page_size))
    collection = {"id": stream_url(archive), "type": "OrderedCollection"}
    if page is None:
        return {
            "@context": DISCOVERY_CONTEXT, **collection, "totalItems": len(items),
            "first": {"id": page_url(archive, 1), "type": "OrderedCollectionPage"},
            "last": {"id": page_url(archive, pages), "type": "OrderedCollectionPage"},
        }
    if page < 1 or page > pages:
        raise NoManifest(f"the change stream has no page {page} (it has {pages})")
    start = (page - 1) * page_size
    doc: dict[str, Any] = {
        "@context": DISCOVERY_CONTEXT, "id": page_url(archive, page),
        "type": "OrderedCollectionPage", "startIndex": start, "partOf": collection,
    }
    if page > 1:
        doc["prev"] = {"id": page_url(archive, page - 1), "type": "OrderedCollectionPage"}
    if page < pages:
        doc["next"] = {"id": page_url(archive, page + 1), "type": "OrderedCollectionPage"}
    doc["orderedItems"] = [_activity_doc(archive, a) for a in items[start:start + page_size]]
    return doc


__all__ = ["DISCOVERY_CONTEXT", "Activity", "activities", "build_stream", "page_url",
           "stream_url"]
