"""numpy's OpenBLAS kernels: chosen from the CPU's flags before numpy loads (graph_schema.blas)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from graph_schema.blas import cpu_flags, kernel_for

# the kernel family numpy's own OpenBLAS runs (its symbols carry the 64_ suffix in the wheels)
CORENAME = """
import graph_schema, ctypes, numpy
path = next(line.split()[-1] for line in open('/proc/self/maps') if 'openblas' in line and 'numpy' in line)
lib = ctypes.CDLL(path)
fn = getattr(lib, 'openblas_get_corename64_', None) or getattr(lib, 'openblas_get_corename')
fn.restype = ctypes.c_char_p
print(fn().decode())
"""


def corename(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    out = subprocess.run([sys.executable, "-c", CORENAME], env={**clean, **env}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().lower()


def test_flags_pick_the_widest_kernels_they_run() -> None:
    avx512 = "fpu sse4_2 avx avx2 fma avx512f avx512cd avx512bw avx512dq avx512vl avx512_fp16"
    info = f"processor\t: 0\nflags\t\t: {avx512}\n\nprocessor\t: 1\nflags\t\t: sse2\n"
    assert cpu_flags(info) == frozenset(avx512.split())  # the first processor's
    assert kernel_for(cpu_flags(info)) == "SkylakeX"
    assert kernel_for(frozenset(["sse4_2", "avx", "avx2", "fma"])) == "Haswell"
    assert kernel_for(frozenset(["sse4_2", "avx", "avx2", "fma", "avx512f"])) == "Haswell"  # AVX-512 in part
    assert kernel_for(frozenset(["sse2", "sse4_2", "avx"])) is None  # OpenBLAS's own choice stands
    assert cpu_flags("processor\t: 0\n") == frozenset()


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_numpy_runs_the_kernels_the_cpu_allows() -> None:
    expected = kernel_for(cpu_flags(Path("/proc/cpuinfo").read_text()))
    if expected is None:
        pytest.skip("this CPU has neither AVX2 nor AVX-512: OpenBLAS's own choice is kept")
    assert corename() == expected.lower()
    # an operator's OPENBLAS_CORETYPE wins
    assert corename(OPENBLAS_CORETYPE="Haswell") == "haswell"
