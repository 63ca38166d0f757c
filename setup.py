"""Builds fastcore's Cython extensions (every .pyx under src/fastcore).

FASTCORE_DEBUG=1 builds without optimisation, with debug symbols, and with
Cython's bounds and wraparound checks forced back on, for gdb and sanitizers.
"""
import os
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTCORE_DEBUG", "") not in ("", "0")
SRC = Path(__file__).parent / "src"

if DEBUG:
    cflags = ["-O0", "-g3", "-UNDEBUG"]
    directives = {"boundscheck": True, "wraparound": True, "initializedcheck": True}
else:
    cflags = ["-O3", "-DNDEBUG"]
    directives = {}
directives["language_level"] = 3

extensions = [
    Extension(
        ".".join(pyx.relative_to(SRC).with_suffix("").parts),
        [str(pyx.relative_to(Path(__file__).parent))],
        include_dirs=[str(pyx.parent)],
        extra_compile_args=cflags,
    )
    for pyx in sorted(SRC.rglob("*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        include_path=[str(SRC)],
        annotate=os.environ.get("FASTCORE_ANNOTATE", "") not in ("", "0"),
    ),
)
