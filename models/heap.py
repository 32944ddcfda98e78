"""Giving freed memory back to the operating system between the big phases of a dream.

glibc keeps freed small and middling blocks for reuse, so the activations of a load-time probe
or of a dream's optimisation loop stay in the process after they are freed, and the next big
allocation (a full-size picture) comes on top of them. `release_heap` hands them back; it is a
no-op where libc is not glibc.
"""
from __future__ import annotations

import ctypes
import functools


@functools.lru_cache(maxsize=1)
def _trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_heap() -> None:
    trim = _trim()
    if trim is not None:
        trim(0)
