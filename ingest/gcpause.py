"""Python's full garbage collections held back while a batch runs.

A batch's parent holds large buffers that live for seconds and then die by reference count:
thousands of search documents, Tantivy field values and derived copies waiting for the next
group. Each buffer promotes its objects to the oldest generation, so CPython runs a full
collection whenever it has grown by a quarter, walking every live object: 39 full collections,
15.7 s of the parent's CPU (~12 %) in an ingest of 100,000 DC records. They find almost
nothing (peak memory is the same without them), because these objects hold no cycles.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Young collections (generations 0 and 1) still run as usual: they are cheap and free the short
# cycles that parsing and exceptions leave. A full collection waits for this many collections of
# generation 1 instead of 10 (a DC batch makes ~8 a thousand records).
FULL_AFTER = 1000


@contextmanager
def full_collections_held() -> Iterator[None]:
    """Within the block, run a full collection only after FULL_AFTER young ones."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, max(old, FULL_AFTER))
    try:
        yield
    finally:
        # What the batch left in cycles goes in the next full collection, as usual.
        gc.set_threshold(young, middle, old)
