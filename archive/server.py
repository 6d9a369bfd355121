"""The production server: gunicorn, run in-process by `memoria serve`."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from archive.settings import Settings

SYNC_INTERVAL_SECONDS = 2.0


class MemoriaServer(BaseApplication):
    """Gunicorn with Memoria's app factory, built inside the worker."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Pass our options to gunicorn's config."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """Build the app in the worker (nothing is opened before the fork)."""
        from archive.web import create_app

        return create_app(self.settings, sync_interval=SYNC_INTERVAL_SECONDS)


def run_server(settings: Settings, host: str, port: int) -> None:
    """Serve until interrupted."""
    # One worker process owns the RDF store (Oxigraph allows one writer per directory);
    # threads give it concurrency, and the store releases the GIL inside queries.
    options = {
        "bind": f"{host}:{port}",
        "workers": 1,
        "threads": max(4, settings.workers * 4),
        "worker_class": "gthread",
        "accesslog": "-",
        "timeout": 120,
        "graceful_timeout": 10,
    }
    print(f"Memoria serving {settings.home} on http://{host}:{port}/ "
          f"(public URL {settings.base_url})", flush=True)
    MemoriaServer(settings, options).run()
