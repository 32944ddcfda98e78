"""How many CPU threads torch may use: the cores this process may run on, shared out between
the dreams running at once.

torch's default is every core of the machine, whatever the process is allowed: with several
dreams at once (the bot's worker threads, or several worker processes on one machine) that is
several times more threads than cores, and they thrash (the same dream took 10-13x longer
while other jobs shared the two cores). So:

- the cores are those this process may use: its CPU affinity (`os.sched_getaffinity`, what
  taskset, docker --cpuset-cpus and Kubernetes' static CPU manager set), capped by a cgroup CPU
  quota (docker --cpus) when there is one;
- LUCID_DREAM_WORKERS says how many dreaming processes share those cores (default 1);
- within a process, each dream in flight takes an equal share. torch's OpenMP thread count is
  per calling thread, so each dream sets its own, and re-checks it every step: a dream that
  began alone gives cores back when another starts.
"""
from __future__ import annotations

import contextlib
import math
import os
import threading
from pathlib import Path
from typing import Iterator

import torch

ENV_WORKERS = "LUCID_DREAM_WORKERS"

_lock = threading.Lock()
_active = 0
_cores: int | None = None
_local = threading.local()


def usable_cores() -> int:
    """The CPUs this process may run on (affinity, then any cgroup CPU quota), at least 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        n = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        n = min(n, max(1, math.floor(quota)))
    return max(1, n)


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs' worth of time the cgroup may use (docker --cpus), or None when unlimited."""
    try:
        return parse_cpu_max((root / "cpu.max").read_text())  # cgroup v2
    except OSError:
        pass
    try:  # cgroup v1
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def parse_cpu_max(text: str) -> float | None:
    """cgroup v2's cpu.max ("max 100000", "150000 100000") as CPUs, None when unlimited."""
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def workers() -> int:
    """Dreaming processes sharing this machine's cores (LUCID_DREAM_WORKERS, default 1; a value
    that is no count, 1 when it is none: a typo must not stop the bot)."""
    return parse_workers(os.environ.get(ENV_WORKERS, "")) or 1


def parse_workers(value: str) -> int | None:
    """LUCID_DREAM_WORKERS's count, or None when `value` is none (unset, "abc", "0", "-2")."""
    try:
        n = int(value.strip())
    except ValueError:
        return None
    return n if n >= 1 else None


def thread_share(dreams: int = 1, processes: int | None = None, cores: int | None = None) -> int:
    """Threads for one of `dreams` dreams running at once in one of `processes` processes."""
    cores = usable_cores() if cores is None else cores
    processes = workers() if processes is None else processes
    return max(1, cores // (max(1, processes) * max(1, dreams)))


@contextlib.contextmanager
def dreaming() -> Iterator[int]:
    """Hold while a dream runs in this thread; yields its thread count to start with."""
    global _active, _cores
    with _lock:
        _active += 1
        if _active == 1:
            _cores = usable_cores()  # read again whenever the process was idle
    try:
        yield rebalance()
    finally:
        with _lock:
            _active -= 1


def rebalance() -> int:
    """Set this thread's torch thread count to its share now; cheap when it has not changed.
    The render loop calls it every step."""
    n = thread_share(_active, cores=_cores)
    if getattr(_local, "threads", None) != n:
        torch.set_num_threads(n)
        _local.threads = n
    return n
