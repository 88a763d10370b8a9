"""numpy's BLAS kernels on a CPU its OpenBLAS does not recognise.

numpy 1.26's wheels (the line torch 2.2 needs) bundle OpenBLAS 0.3.23, which picks its
kernels from the CPU's model number. A model newer than it knows gets the generic
"Prescott" (SSE3) kernels: on this project's 2-core Xeon (family 6, model 207) a float32
(512 x 128) @ (128 x 20,000) product — one chunk of a refresh's user lists — took 44.7 ms
instead of 12.8 ms with the AVX-512 ones (scipy's newer OpenBLAS, in the same process,
chose them by itself). OpenBLAS reads OPENBLAS_CORETYPE once, when it loads, so this runs
before numpy is first imported (graph_schema/__init__.py; service and training import
graph_schema first) and names the kernel family the CPU's own flags allow. An
OPENBLAS_CORETYPE already set wins (an operator's choice); a process that imported numpy
earlier keeps what OpenBLAS chose. Child processes inherit the variable, and it steers
every OpenBLAS in the process (scipy's, faiss's). On a CPU OpenBLAS knows, the family
named may be a little less tuned than its own choice (its Zen and Sapphire Rapids targets
build mostly on the Haswell and SkylakeX kernels); set OPENBLAS_CORETYPE to keep it.
"""

from __future__ import annotations

import os
import platform
import sys
from functools import lru_cache
from pathlib import Path

# OpenBLAS kernel family -> the CPU flags its kernels use (best first)
KERNELS: tuple[tuple[str, frozenset[str]], ...] = (
    ("SkylakeX", frozenset({"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "fma", "avx2"})),
    ("Haswell", frozenset({"avx2", "fma"})),
)


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The first processor's flags in /proc/cpuinfo's text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


@lru_cache(maxsize=1)
def local_cpu_flags() -> frozenset[str]:
    """This machine's CPU flags (read once per process; empty where /proc has none)."""
    try:
        return cpu_flags(Path("/proc/cpuinfo").read_text(errors="replace"))
    except (OSError, ValueError):
        return frozenset()


def kernel_for(flags: frozenset[str]) -> str | None:
    """The best OpenBLAS kernel family these flags run, or None (leave OpenBLAS's choice)."""
    return next((name for name, needs in KERNELS if needs <= flags), None)


def prefer_cpu_kernels() -> str | None:
    """Set OPENBLAS_CORETYPE from the CPU's flags when nothing decided it yet; returns what
    was set (None: left alone — already set, numpy already loaded, or not Linux x86-64)."""
    if "OPENBLAS_CORETYPE" in os.environ or "numpy" in sys.modules:
        return None
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return None
    kernel = kernel_for(local_cpu_flags())  # none (no /proc, anything odd): OpenBLAS decides
    if kernel is not None:
        os.environ["OPENBLAS_CORETYPE"] = kernel
    return kernel
