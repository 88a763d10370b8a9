"""Hand the heap that freed memory leaves behind back to the operating system.

glibc's malloc keeps freed blocks (below its mmap threshold, which grows up to 32 MiB as big
blocks come and go) in the process for reuse, and a refresh frees a lot between phases: the
GNN's tensors, the blend's score blocks, the text encoder. Without a trim the next phase
starts on top of the last one's high-water mark (on the 1M-event graph the process held
~1.5 GiB after training for ~1 GiB in use; 530 MiB came back with a trim), and the
refresh's peak is the sum of the phases' instead of the largest. Elsewhere than glibc this
does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _libc() -> Any:
    return ctypes.CDLL("libc.so.6")


def release_freed(collect: bool = False) -> None:
    """Return freed heap pages to the OS (glibc `malloc_trim`); `collect`: first free what
    only reference cycles keep (a torch module's, for example)."""
    if collect:
        gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        _libc().malloc_trim(0)
