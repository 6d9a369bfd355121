"""A call running in a thread of its own, waited for like a function call."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class InBackground:
    """Runs `call(*args)` in a new thread at once; `wait` joins it and raises what it raised."""

    def __init__(self, call: Callable[..., Any], *args: Any, name: str) -> None:
        self._error: BaseException | None = None
        self._call = call
        self._thread = threading.Thread(target=self._run, args=args, name=name, daemon=True)
        self._thread.start()

    def _run(self, *args: Any) -> None:
        try:
            self._call(*args)
        except BaseException as exc:  # noqa: BLE001 - raised again by wait, in the caller
            self._error = exc

    def join(self) -> None:
        """Wait until the call is over, whatever it did."""
        self._thread.join()

    def wait(self) -> None:
        """Wait until the call is over; raise what it raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
