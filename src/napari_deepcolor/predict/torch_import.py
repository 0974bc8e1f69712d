"""The session's first ``import torch`` without freezing a napari window (`import_torch`, for the workers).

In napari the Segment and Train workers import torch in a thread, and the import held Python's lock, so the window
froze on the first run of a session (0.5 s here): for the shared libraries it loads (libtorch_cpu and friends, 190-310
ms) and for the full garbage collections that its 100,000 new objects set off, each of which visits every object of
napari (150-200 ms each, two of them).

- `preload_torch_libraries` maps the libraries with libc's ``dlopen`` called through ctypes, a foreign call for which
  ctypes lets go of Python's lock; the import then finds them loaded. Beside a loop that ticks every 2 ms, the import
  held the lock 40-50 ms at a time instead of 190-310 ms. Linux and macOS only; elsewhere, or when a library is
  missing, it does nothing and the import loads them as before.
- `no_cyclic_collection` turns the cyclic collector off while torch imports and freezes what exists then
  (`gc.freeze`): those long-lived objects are not scanned by later collections either.

Measured in napari: docs/benchmarks.md, "The first Segment run of a session" (benchmarks/bench_first_run.py).
Nothing here imports torch until `import_torch` is called.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib.util
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: torch's largest shared libraries, each before the ones that need it.
LIBRARIES = ("libc10", "libtorch_cpu", "libtorch", "libtorch_python")
_SUFFIX = {"linux": ".so", "darwin": ".dylib"}
_lock = threading.Lock()
_loaded: list[str] = []
_collector_lock = threading.Lock()
_collector_holders = 0  # threads inside `no_cyclic_collection`
_collector_was_enabled = True


def torch_libraries() -> list[Path]:
    """torch's shared libraries of `LIBRARIES` that exist in its ``lib`` folder, found without importing torch."""
    suffix = _SUFFIX.get(sys.platform)
    spec = importlib.util.find_spec("torch") if suffix else None
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "lib"
    return [path for name in LIBRARIES if (path := folder / f"{name}{suffix}").is_file()]


def preload_torch_libraries() -> list[str]:
    """Map torch's shared libraries with Python's lock released (once per process; nothing once torch is
    imported). Returns the names of the libraries loaded so far."""
    with _lock:
        if _loaded or "torch" in sys.modules:
            return list(_loaded)
        try:
            libc = ctypes.CDLL(None)
            dlopen = libc.dlopen
        except (OSError, AttributeError):
            return []
        dlopen.restype, dlopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int]
        for path in torch_libraries():
            # a foreign call: ctypes releases Python's lock for it; the handle stays open, as torch's own does
            if not dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_LOCAL):
                break
            _loaded.append(path.name)
        return list(_loaded)


@contextlib.contextmanager
def no_cyclic_collection() -> Iterator[None]:
    """Python's cyclic garbage collector off inside, and the objects made there kept out of later collections.

    The first `torch.optim.Adam` of a process imports ``torch._dynamo`` (822 modules, 117,000 objects), which set
    off two full collections of 0.75-0.9 s in the Train dock's worker; the first ``import torch`` two of 150-200 ms
    in the Segment worker. A collection holds Python's lock, so the napari window froze
    (benchmarks/bench_gui_hitches.py). `gc.freeze` moves what exists then to the permanent generation, so those
    long-lived objects are not scanned again.
    """
    global _collector_was_enabled, _collector_holders
    with _collector_lock:  # threads may overlap (the Segment worker's imports beside the Train worker's first
        # optimizer): the first one in switches the collector off, the last one out restores it
        if _collector_holders == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _collector_holders += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_holders -= 1
            if _collector_holders == 0:
                gc.freeze()
                if _collector_was_enabled:
                    gc.enable()


def import_torch() -> Any:
    """``import torch``, the first time with its libraries preloaded and no cyclic collection: the module."""
    if "torch" not in sys.modules:
        preload_torch_libraries()
        with no_cyclic_collection():
            import torch  # noqa: F401
    return sys.modules["torch"]
