"""Keep freed CPU memory in the process for reuse (glibc's malloc), for CPU training loops.

A CUB-sized training step allocates and frees buffers of tens of megabytes (weight gradients,
activations of 4,096 units) many times per iteration. glibc serves each such request with a
fresh ``mmap`` and returns it with ``munmap`` when freed, so every step faults its pages in
again and the kernel zeroes them: on CUB-shaped TF-VAEGAN training that was a fifth of the
CPU time, spent in the kernel (benchmarks/tfvaegan_speed.py). Turning ``mmap`` off for
``malloc`` and raising the trim threshold keeps those pages in the heap, as PyTorch's CUDA
caching allocator keeps GPU memory: the process's resident memory stays at its peak instead
of shrinking between steps. Nothing changes numerically.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

import torch

log = logging.getLogger(__name__)

#: glibc's ``mallopt`` parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
#: Free memory at the heap's top is returned to the kernel only above this many bytes.
TRIM_THRESHOLD_BYTES = 2**31 - 1

_applied: bool | None = None


def keep_freed_cpu_memory(device: torch.device | str = "cpu") -> bool:
    """When training on the CPU: ask glibc's malloc to serve large blocks from the heap and keep
    freed ones; True if it did (now or before).

    Idempotent and process-wide. A no-op returning False for a CUDA device, off Linux, or with
    another C library (musl has no ``mallopt``).
    """
    global _applied
    if torch.device(device).type != "cpu":
        return False
    if _applied is None:
        _applied = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                mallopt = libc.mallopt
            except (OSError, AttributeError):
                mallopt = None
            if mallopt is not None:
                mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
                _applied = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
        log.debug("keep freed CPU memory in the heap: %s", _applied)
    return _applied
