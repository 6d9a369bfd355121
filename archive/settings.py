"""Settings: one table of (name, default, help), from MEMORIA_* variables and an instance file."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Setting:
    """One setting: its name, default value and what it does."""

    name: str
    default: str | int | bool
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("home", "./memoria-data",
            "The one directory where an instance keeps everything: storage, RDF store, "
            "index, pyramids, caches, batch reports."),
    Setting("base_url", "http://127.0.0.1:5000",
            "Public base URL used for every URI and IIIF id. Never taken from the Host header."),
    Setting("host", "127.0.0.1", "Address `memoria serve` listens on."),
    Setting("port", 5000, "Port `memoria serve` listens on."),
    Setting("trusted_proxy_headers", "",
            "Comma-separated X-Forwarded-* headers to trust from a reverse proxy "
            "(for, proto, host, prefix); empty trusts none."),
    Setting("search", "tantivy", "Search backend: tantivy (embedded) or elasticsearch."),
    Setting("elasticsearch_url", "http://127.0.0.1:9200",
            "Elasticsearch URL when search is elasticsearch."),
    Setting("elasticsearch_index", "memoria",
            "Name of the Elasticsearch alias this instance reads and writes through."),
    Setting("digest", "sha512", "Fixity digest of storage: sha512 or sha256."),
    Setting("fsync", True, "Flush every storage write to disk before it counts as done."),
    Setting("provider", "Memoria", "Name of the institution running this instance (edm:provider)."),
    Setting("max_image_pixels", 500_000_000,
            "Largest image accepted at ingest, in pixels; larger images are rejected."),
    Setting("harvest_allow_private", False,
            "Let the OAI-PMH harvester and manifest import fetch from private and loopback "
            "addresses (link-local addresses are always refused)."),
    Setting("workers", 2, "Worker processes for ingest and for the production server."),
    Setting("iiif_max_area", 25_000_000,
            "Largest image the IIIF Image API renders, in pixels (width x height)."),
    Setting("iiif_max_width", 0,
            "Largest width and height the IIIF Image API renders (0: only iiif_max_area "
            "limits; `^max` then returns the full size)."),
    Setting("iiif_page_size", 100,
            "Items per page of IIIF collections and of the change discovery stream."),
    Setting("iiif_cache_mb", 1024,
            "Size of the on-disk cache of rendered IIIF images (not tiles), in megabytes."),
    Setting("secret_key", "", "Flask secret key; a random one is made per start when empty."),
    Setting("map_tile_url", "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "Base-map tile URL template for the maps (empty: markers on a blank map, "
            "for instances with no network)."),
    Setting("map_attribution", "© OpenStreetMap contributors",
            "Attribution shown on the maps for the base-map tiles."),
    Setting("page_cache_mb", 64,
            "Disk (in the instance's cache folder) shared by the server's worker processes for "
            "rendered pages (search, item, collection, home, place, timeline and their JSON "
            "twins), kept until the data changes; 0 turns the cache off."),
)

_BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True,
               "0": False, "false": False, "no": False, "off": False}


class SettingsError(ValueError):
    """A setting that cannot be used, with the name and the reason."""


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one Memoria instance."""

    home: Path
    base_url: str
    host: str
    port: int
    trusted_proxy_headers: str
    search: str
    elasticsearch_url: str
    elasticsearch_index: str
    digest: str
    fsync: bool
    provider: str
    max_image_pixels: int
    harvest_allow_private: bool
    workers: int
    iiif_max_area: int
    iiif_max_width: int
    iiif_page_size: int
    iiif_cache_mb: int
    secret_key: str
    map_tile_url: str
    map_attribution: str
    page_cache_mb: int

    @property
    def storage_root(self) -> Path:
        """The OCFL storage root: the source of truth."""
        return self.home / "storage"

    @property
    def work_dir(self) -> Path:
        """Staging, journals and locks for atomic storage writes."""
        return self.home / "work"

    @property
    def rdf_dir(self) -> Path:
        """The Oxigraph RDF store (derived)."""
        return self.home / "rdf"

    @property
    def index_dir(self) -> Path:
        """The embedded search index (derived)."""
        return self.home / "index"

    @property
    def pyramid_dir(self) -> Path:
        """Image pyramids (derived)."""
        return self.home / "pyramids"

    @property
    def cache_dir(self) -> Path:
        """Caches of derived responses (derived)."""
        return self.home / "cache"

    @property
    def state_db(self) -> Path:
        """Batches and the queue of records whose derived copies are pending."""
        return self.home / "state.sqlite"

    @property
    def instance_file(self) -> Path:
        """The optional instance settings file."""
        return self.home / "memoria.toml"

    def as_table(self) -> list[tuple[str, str, str]]:
        """The settings as (name, value, help) rows."""
        helps = {s.name: s.help for s in SETTINGS}
        rows = []
        for f in fields(self):
            value = getattr(self, f.name)
            shown = "(set)" if f.name == "secret_key" and value else str(value)
            rows.append((f.name, shown, helps[f.name]))
        return rows


def env_name(name: str) -> str:
    """The environment variable of a setting: home -> MEMORIA_HOME."""
    return f"MEMORIA_{name.upper()}"


def _coerce(setting: Setting, raw: Any) -> Any:
    default = setting.default
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word not in _BOOL_WORDS:
            raise SettingsError(f"{setting.name}: {raw!r} is not a yes/no value")
        return _BOOL_WORDS[word]
    if isinstance(default, int):
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise SettingsError(f"{setting.name}: {raw!r} is not a whole number") from None
    return str(raw)


def _check(values: dict[str, Any]) -> None:
    base = urlsplit(values["base_url"])
    if base.scheme not in {"http", "https"} or not base.netloc or base.query or base.fragment:
        raise SettingsError(f"base_url: {values['base_url']!r} must be an http(s) URL")
    values["base_url"] = values["base_url"].rstrip("/")
    if values["search"] not in {"tantivy", "elasticsearch"}:
        raise SettingsError(f"search: {values['search']!r} must be tantivy or elasticsearch")
    if values["digest"] not in {"sha512", "sha256"}:
        raise SettingsError(f"digest: {values['digest']!r} must be sha512 or sha256")
    if not 1 <= values["port"] <= 65535:
        raise SettingsError(f"port: {values['port']} is out of range")
    if values["workers"] < 1:
        raise SettingsError("workers: must be at least 1")
    if values["page_cache_mb"] < 0:
        raise SettingsError("page_cache_mb: must be 0 (off) or more")


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve settings: overrides, MEMORIA_* variables, the instance file, then defaults."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = set(overrides) - {s.name for s in SETTINGS}
    if unknown:
        raise SettingsError(f"unknown settings: {', '.join(sorted(unknown))}")
    home_raw = overrides.get("home") or environ.get(env_name("home")) or SETTINGS[0].default
    home = Path(str(home_raw)).expanduser().resolve()
    from_file: dict[str, Any] = {}
    instance_file = home / "memoria.toml"
    if instance_file.is_file():
        try:
            from_file = tomllib.loads(instance_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{instance_file}: {exc}") from exc
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides:
            raw = overrides[setting.name]
        elif env_name(setting.name) in environ:
            raw = environ[env_name(setting.name)]
        elif setting.name in from_file:
            raw = from_file[setting.name]
        else:
            raw = setting.default
        values[setting.name] = _coerce(setting, raw)
    values["home"] = home
    _check(values)
    return Settings(**values)
