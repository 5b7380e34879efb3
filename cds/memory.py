"""The C allocator's settings for large request bodies (glibc on Linux; elsewhere nothing changes).

A 10,000-resource chart arrives as a ~7 MB body. glibc serves a block that large with its own
``mmap`` and gives it back with ``munmap`` when it is freed, so every such call faulted its body's
pages in afresh: ~3,600 page faults, ~4 ms of a ~35 ms call (``python -m bench.run --phases scaling``;
bench/README.md, "Large charts"). Served from the heap instead, the pages stay mapped and are reused
by the next call. The heap keeps at most ``TRIM_THRESHOLD`` of free memory before giving it back, so a
worker's resident size stays bounded (the memory phase of the benchmark checks it).

The operator's own ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` environment settings win:
when either is set, nothing is changed.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Final

M_TRIM_THRESHOLD: Final = -1  # glibc <malloc.h>
M_MMAP_THRESHOLD: Final = -3
# Blocks below this come from the heap: the body limit (CDS_MAX_BODY_BYTES, 10 MB by default) with
# room, and glibc's upper bound for the setting on 64-bit systems.
MMAP_THRESHOLD: Final = 32 * 1024 * 1024
TRIM_THRESHOLD: Final = 64 * 1024 * 1024
_OPERATOR_SETTINGS: Final = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_large_blocks() -> bool:
    """Serve large blocks from the heap and keep freed memory for reuse; True when glibc took it."""
    if not sys.platform.startswith("linux") or any(name in os.environ for name in _OPERATOR_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already uses
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt answers 1 when it took the setting; musl's is a stub that answers 0
    took: int = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) + mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return took == 2
