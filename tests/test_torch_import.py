"""`napari_deepcolor.predict.torch_import`: torch's libraries mapped before its first import, which then works as
always (each check in a fresh interpreter, where torch is not imported yet)."""

import subprocess
import sys

import pytest

pytest.importorskip("torch")


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                          timeout=300).stdout.strip()


@pytest.mark.skipif(sys.platform not in ("linux", "darwin"), reason="libc's dlopen: Linux and macOS only")
def test_the_libraries_load_before_torch_is_imported_and_torch_then_imports():
    out = run("import sys\n"
              "from napari_deepcolor.predict.torch_import import import_torch, preload_torch_libraries\n"
              "loaded = preload_torch_libraries()\n"
              "assert 'torch' not in sys.modules, 'torch was imported'\n"
              "print(','.join(loaded))\n"
              "assert preload_torch_libraries() == loaded  # once per process\n"
              "torch = import_torch()\n"
              "print(torch.ones(3).sum().item())\n")
    names, total = out.splitlines()
    assert "libtorch_cpu" in names and float(total) == 3.0


def test_importing_torch_leaves_the_garbage_collector_as_it_was():
    out = run("import gc\n"
              "from napari_deepcolor.predict.torch_import import import_torch\n"
              "torch = import_torch()\n"
              "print(gc.isenabled(), torch.__name__, import_torch() is torch)\n"
              "gc.disable()\n"
              "from napari_deepcolor.predict.torch_import import no_cyclic_collection\n"
              "with no_cyclic_collection():\n"
              "    pass\n"
              "print(gc.isenabled())\n")
    assert out.splitlines() == ["True torch True", "False"]


def test_overlapping_holders_keep_the_collector_off_until_the_last_one_leaves():
    """A warm-up import beside a worker's torch import: the first one out must not switch the collector back on
    under the other, nor leave it off."""
    import gc

    from napari_deepcolor.predict.torch_import import no_cyclic_collection

    assert gc.isenabled()
    first, second = no_cyclic_collection(), no_cyclic_collection()
    try:
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)
        assert not gc.isenabled()
        second.__exit__(None, None, None)
        assert gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
