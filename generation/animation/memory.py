"""Large CPU allocations kept for reuse: glibc's malloc told not to map and unmap them.

glibc serves an allocation above its mmap threshold (at most 32 MiB with its dynamic
threshold) with a fresh `mmap` and returns it with `munmap` when freed, so every batched
activation of a 256-px animation (a 16-frame batch of 256 x 64 x 64 features is 32 MiB in
bf16, the full-resolution ones 128 MiB) pays its page faults again in every layer. Raising
the mmap threshold (and the heap's trim threshold) keeps freed blocks in the heap, where
later layers' tensors reuse them already mapped once the heap has grown to a batch's
pattern (the first batch still faults): the effect of the jemalloc or tcmalloc preload that
CPU inference guides recommend, without a preload. The cost is memory: the process keeps
its peak heap (and some fragmentation) instead of returning it between layers.

`fme bench animation` prints the page faults per frame and the run's peak resident memory
(docs/benchmarks.md: at 256 px under bf16 FOMM 25615 -> 5 faults a frame, 2530 -> 3178 MiB);
`fme bench animation --no-reuse-memory` runs without it.
Elsewhere than glibc (macOS, musl) this is a no-op; `FME_REUSE_MEMORY=0` turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

#: glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: 1 GiB: batched 256-px activations stay in the heap; larger ones are still mapped
MMAP_THRESHOLD = 1 << 30
TRIM_THRESHOLD = (1 << 31) - 1

_done: bool | None = None


def reuse_large_allocations() -> bool:
    """Once per process: raise glibc's mmap and trim thresholds. True when they are set
    (now or before); False where there is no glibc mallopt or `FME_REUSE_MEMORY=0`."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("FME_REUSE_MEMORY", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _done


def reusing_large_allocations() -> bool:
    """Whether `reuse_large_allocations` has set the thresholds in this process."""
    return bool(_done)
