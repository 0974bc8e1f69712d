"""The benchmarks' writer of docs/benchmarks.md (benchmarks/_docs.py): a benchmark run replaces its own section's
table and keeps the reading written by hand below `KEEP_MARKER`, and leaves the other sections alone."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _docs import KEEP_MARKER, write_section  # noqa: E402


def test_a_benchmark_rewrites_its_table_and_keeps_the_hand_written_reading(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text(f"# Benchmarks\n\n## A\n\n| old table |\n\n{KEEP_MARKER}\n\nReading: why.\n\n## B\n\nother\n")
    write_section(page, "## A", "## A\n\n| new table |\n")
    assert page.read_text() == (f"# Benchmarks\n\n## A\n\n| new table |\n\n{KEEP_MARKER}\n\nReading: why.\n\n"
                                "## B\n\nother\n")
    write_section(page, "## B", "## B\n\nnew\n")  # no marker: the whole section is the benchmark's
    assert page.read_text().endswith("## B\n\nnew\n") and "Reading: why." in page.read_text()
    write_section(page, "## C", "## C\n\nadded\n")
    assert page.read_text().endswith("## C\n\nadded\n")
