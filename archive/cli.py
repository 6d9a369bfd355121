"""The `memoria` command: one command for everything an archivist does."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from archive.settings import SETTINGS, Settings, SettingsError, env_name, load_settings

EXIT_REJECTED = 3


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]
    return settings


def _open_archive(settings: Settings) -> Any:
    from archive.images import set_pixel_limit
    from archive.service import Archive

    set_pixel_limit(settings.max_image_pixels)
    return Archive(settings).open()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"Instance directory (default: ${env_name('home')} or ./memoria-data).")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """Memoria: ingest, keep, find and show a city's heritage records."""
    try:
        settings = load_settings({"home": str(home)} if home else None)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    ctx.obj = {"settings": settings}


@main.command("settings")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def settings_cmd(ctx: click.Context, as_json: bool) -> None:
    """Print every setting with its value and what it does."""
    rows = _settings(ctx).as_table()
    if as_json:
        click.echo(json.dumps({name: value for name, value, _ in rows}, indent=2))
        return
    width = max(len(name) for name, _, _ in rows)
    for name, value, help_text in rows:
        click.echo(f"{name:<{width}}  {value}")
        click.echo(f"{'':<{width}}  {env_name(name)}: {help_text}")


@main.command()
@click.option("--base-url", default=None, help="Public base URL to write into memoria.toml.")
@click.pass_context
def init(ctx: click.Context, base_url: str | None) -> None:
    """Create the instance directory, its storage root and memoria.toml."""
    settings = _settings(ctx)
    settings.home.mkdir(parents=True, exist_ok=True)
    if not settings.instance_file.exists():
        lines = ["# Memoria instance settings; MEMORIA_* environment variables override these."]
        lines.append(f'base_url = "{base_url or settings.base_url}"')
        settings.instance_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    archive = _open_archive(load_settings({"home": str(settings.home)}))
    archive.close()
    click.echo(f"instance ready in {settings.home}")


def _detect_format(source: Path) -> str:
    from ingest.sniff import detect_format

    try:
        return detect_format(source)
    except ValueError as exc:
        raise click.UsageError(f"{exc}; pass --format") from None


@main.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path), required=False)
@click.option("--format", "fmt", default="auto", show_default=True,
              help="Reader: csv, json, folder, dc, ead, lido, marcxml, mets, rdf, iiif, or auto "
                   "(detected from the file).")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Mapping file (TOML) for CSV and sidecar columns.")
@click.option("--namespace", help="Source namespace for record ids (overrides the mapping).")
@click.option("--encoding", help="Character encoding of the source (default from the mapping).")
@click.option("--sidecar", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Sidecar CSV of a folder, when the folder holds several.")
@click.option("--images", "images_dir",
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of the image files a CSV names (default: beside the CSV).")
@click.option("--dry-run", is_flag=True, help="Validate and report without storing anything.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead.")
@click.option("--undo", "undo", metavar="BATCH", help="Withdraw a batch completely instead.")
@click.pass_context
def ingest(ctx: click.Context, source: Path | None, fmt: str, mapping: Path | None,
           namespace: str | None, encoding: str | None, sidecar: Path | None,
           images_dir: Path | None, dry_run: bool, as_json: bool, undo: str | None) -> None:
    """Ingest a source as one batch and report what was accepted and rejected.

    Exit status: 0 all accepted, 3 some records rejected, 1 the batch failed.
    """
    if undo:
        _undo(ctx, undo)
        return
    if source is None:
        raise click.UsageError("name a SOURCE to ingest (or --undo BATCH)")
    from ingest.mapping import MappingError, load_mapping
    from ingest.pipeline import run_batch
    from ingest.registry import UnknownReaderError, get_reader

    name = _detect_format(source) if fmt == "auto" else fmt
    try:
        reader = get_reader(name)
    except UnknownReaderError as exc:
        raise click.UsageError(str(exc)) from None
    options: dict[str, Any] = {}
    try:
        if mapping:
            options["mapping"] = load_mapping(mapping)
    except MappingError as exc:
        raise click.UsageError(str(exc)) from None
    if name in {"csv", "json"} and not mapping:
        raise click.UsageError(f"a {name.upper()} file needs a mapping file: --mapping FILE.toml "
                               "(presets for known exports are in schemas/mappings/)")
    for key, value in (("namespace", namespace), ("encoding", encoding), ("sidecar", sidecar),
                       ("images_dir", images_dir)):
        if value:
            options[key] = value
    archive = _open_archive(_settings(ctx))
    # A bar on a terminal only: no noise in CI logs, pipes or the JSON report.
    bar = None
    if sys.stderr.isatty() and not as_json:
        from ingest.progress import CountingReader, IngestProgress

        reader = CountingReader(reader)
        bar = IngestProgress(source, reader, sys.stderr)
    try:
        report = run_batch(archive, reader, source, options=options, dry_run=dry_run,
                           progress=bar)
    finally:
        if bar is not None:
            bar.close()
        archive.close()
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(report.summary())
    if report.rejected:
        ctx.exit(EXIT_REJECTED)


@main.command()
@click.argument("url")
@click.option("--prefix", default="oai_dc", show_default=True,
              help="metadataPrefix: oai_dc, oai_qdc, ead, lido, marcxml, mods or mets.")
@click.option("--set", "set_spec", help="Harvest only this OAI set.")
@click.option("--from", "from_date", help="Only records changed since this date "
              "(default: the last harvest of this endpoint, prefix and set).")
@click.option("--until", help="Only records changed until this date.")
@click.option("--namespace", help="Source namespace for record ids.")
@click.option("--dry-run", is_flag=True, help="Validate and report without storing anything.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead.")
@click.pass_context
def harvest(ctx: click.Context, url: str, prefix: str, set_spec: str | None,
            from_date: str | None, until: str | None, namespace: str | None, dry_run: bool,
            as_json: bool) -> None:
    """Harvest an OAI-PMH endpoint (ListRecords) as one batch, incrementally.

    Deleted records are withdrawn; exit status as for ingest.
    """
    from ingest.oai import harvest as run_harvest

    settings = _settings(ctx)
    archive = _open_archive(settings)
    try:
        report = run_harvest(archive, url, prefix=prefix, set_spec=set_spec,
                             from_date=from_date, until=until,
                             options={"namespace": namespace} if namespace else None,
                             allow_private=settings.harvest_allow_private, dry_run=dry_run)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        archive.close()
    click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2) if as_json
               else report.summary())
    if report.rejected:
        ctx.exit(EXIT_REJECTED)


def _undo(ctx: click.Context, batch_id: str) -> None:
    from ingest.undo import UndoError, undo_batch

    archive = _open_archive(_settings(ctx))
    try:
        report = undo_batch(archive, batch_id)
    except UndoError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        archive.close()
    click.echo(report.summary())


@main.command()
@click.pass_context
def batches(ctx: click.Context) -> None:
    """List ingest batches, newest first."""
    archive = _open_archive(_settings(ctx))
    try:
        rows = archive.state.batches()
    finally:
        archive.close()
    for b in rows:
        click.echo(f"{b.id}  {b.status:<7} {b.reader:<7} {b.input:>6} read {b.accepted:>6} "
                   f"accepted {b.rejected:>5} rejected{'  (dry run)' if b.dry_run else ''}  "
                   f"{b.source}")


@main.command()
@click.pass_context
def rebuild(ctx: click.Context) -> None:
    """Recreate every derived copy (RDF store, image pyramids) from storage alone."""
    archive = _open_archive(_settings(ctx))
    try:
        if not archive.derives:
            raise click.ClickException("the RDF store is held by a running server; stop it first")
        result = archive.rebuild()
    finally:
        archive.close()
    click.echo(f"rebuilt the RDF store: {result.records} records "
               f"({result.withdrawn} withdrawn records left out)")
    click.echo(f"rebuilt the search index: {result.indexed} documents")
    click.echo(f"rebuilt {result.pyramids} image pyramids")
    for error in result.pyramid_errors:
        click.echo(f"  pyramid not built: {error}", err=True)
    if result.pyramid_errors:
        ctx.exit(1)


@main.group()
def index() -> None:
    """The search index: sync what lags behind storage, or rebuild it."""


@index.command("sync")
@click.pass_context
def index_sync(ctx: click.Context) -> None:
    """Derive every record still pending (after an outage of the index, or a crash)."""
    archive = _open_archive(_settings(ctx.find_root()))
    try:
        if not archive.derives:
            raise click.ClickException("the RDF store is held by a running server; it syncs "
                                       "pending records itself")
        before = archive.state.pending_count()
        done = archive.sync()
        left = archive.state.pending_count()
        error = archive.index.last_error if archive.index else None
    finally:
        archive.close()
    click.echo(f"synced {done} of {before} pending records; {left} still pending")
    if left:
        raise click.ClickException(f"the search index is not reachable: {error}")


@index.command("rebuild")
@click.pass_context
def index_rebuild(ctx: click.Context) -> None:
    """Build a fresh search index from the records (Elasticsearch swaps it in atomically)."""
    archive = _open_archive(_settings(ctx.find_root()))
    try:
        if not archive.derives:
            raise click.ClickException("the RDF store is held by a running server; stop it first")
        count = archive.rebuild_index()
    finally:
        archive.close()
    click.echo(f"indexed {count} records into a fresh {archive.settings.search} index")


@index.command("status")
@click.pass_context
def index_status(ctx: click.Context) -> None:
    """Say which backend is in use, whether it is healthy, and how many records are pending."""
    archive = _open_archive(_settings(ctx.find_root()))
    try:
        health = archive.index.backend.health() if archive.index else None
        pending = archive.state.pending_count()
    finally:
        archive.close()
    state = "unknown (held by a server)" if health is None else (
        "healthy" if health.ok else f"unhealthy {dict(health.detail)}")
    click.echo(f"backend {archive.settings.search}: {state}; {pending} records pending")
    if health is not None and not health.ok:
        ctx.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def fixity(ctx: click.Context, as_json: bool) -> None:
    """Re-check every digest in storage; exit 1 if anything changed, is missing or untracked."""
    archive = _open_archive(_settings(ctx))
    try:
        report = archive.fixity()
    finally:
        archive.close()
    problems = {"changed": report.changed, "missing": report.missing,
                "untracked": report.untracked}
    if as_json:
        click.echo(json.dumps({"checked": report.checked, **{
            k: [p.__dict__ for p in v] for k, v in problems.items()}}, indent=2, default=str))
    else:
        click.echo(f"checked {report.checked} files")
        for kind, items in problems.items():
            for p in items:
                click.echo(f"  {kind}: {p}")
    if not report.ok():
        ctx.exit(1)


def _serve(settings: Settings, host: str, port: int) -> None:
    from archive.server import run_server

    run_server(settings, host, port)


@main.command()
@click.option("--host", default=None, help="Address to listen on (default: setting host).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: setting port).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the web site and APIs."""
    settings = _settings(ctx)
    _serve(settings, host or settings.host, port or settings.port)


@main.command()
@click.option("--host", default=None, help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port to listen on.")
@click.option("--no-serve", is_flag=True, help="Build and ingest the demo, then stop.")
@click.pass_context
def demo(ctx: click.Context, host: str | None, port: int | None, no_serve: bool) -> None:
    """Build the demo collection (Guangzhou, Oaxaca, Campeche), ingest it and serve it."""
    from archive.demo.images import demo_dir, generate_images
    from ingest.mapping import load_mapping
    from ingest.pipeline import run_batch
    from ingest.registry import get_reader

    settings = _settings(ctx)
    folder = settings.home / "demo-source"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_dir() / "records.csv", folder / "records.csv")
    click.echo(f"generating demo images in {folder} …")
    generate_images(folder)
    archive = _open_archive(settings)
    try:
        report = run_batch(archive, get_reader("folder"), folder, options={
            "mapping": load_mapping(demo_dir() / "mapping.toml"),
            "sidecar": folder / "records.csv"})
    finally:
        archive.close()
    click.echo(report.summary())
    if report.rejected:
        ctx.exit(EXIT_REJECTED)
    if not no_serve:
        _serve(settings, host or settings.host, port or settings.port)


__all__ = ["SETTINGS", "main"]
