"""Shared by the benchmark scripts: write one section of docs/benchmarks.md, leaving the others alone."""

from __future__ import annotations

import re
from pathlib import Path


#: The page every benchmark records its section in.
BENCHMARKS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def gui_machine(note: str = "") -> str:
    """The machine line of the GUI benchmarks' sections: CPU, cores, Python, torch, napari, the software OpenGL."""
    import os
    import platform

    import napari
    import torch

    return (f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, torch "
            f"{torch.__version__}, napari {napari.__version__}, Xvfb + Mesa llvmpipe. {note}").rstrip()


def record(heading: str, text: str) -> None:
    """Write a benchmark's section into docs/benchmarks.md and say so."""
    write_section(BENCHMARKS_PAGE, heading, text)
    print(f"wrote {BENCHMARKS_PAGE}")


#: In a section, the hand-written reading from this line on is kept when a benchmark writes its table again.
KEEP_MARKER = "<!-- written by hand: kept when the benchmark writes this section again -->"


def write_section(path: Path, heading: str, text: str) -> None:
    """Replace the section starting with ``heading`` (up to the next ``## ``) by ``text``, or append it. What the
    old section has from `KEEP_MARKER` on stays, after ``text``."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    found = pattern.search(old)
    if found:
        section = found.group(0)
        kept = section[section.index(KEEP_MARKER):].rstrip("\n") + "\n" if KEEP_MARKER in section else ""
        text = text.rstrip("\n") + ("\n\n" + kept if kept else "")
        new = pattern.sub(lambda _: text.rstrip("\n") + "\n\n", old)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new.rstrip("\n") + "\n")
