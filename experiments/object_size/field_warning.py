"""How well the field-of-view warning of the automatic object size flags wrong estimates.

For every bundled model, the held-out images of `bench_object_size.py`: resized by 0.5-3 (their extent grows with
their objects, as in the fit) and at other extents (`data.other_extents`: objects at the training size on larger or
smaller canvases). Per image: is the estimate more than 20 % off the true size, and did the estimate's note warn
(`object_size.field_of_view` outside `FIELD_BAND`)? Estimates only (one encoder pass an image), no segmentation.

Usage (from the repository root; the BBBC010 rows need ../shared/data/bbbc010)::

    python experiments/object_size/field_warning.py [--models worms ecoli ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from data import BBBC010, images_for, other_extents

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_object_size import FACTORS, resized  # noqa: E402

from napari_deepcolor.predict.network import load_model  # noqa: E402
from napari_deepcolor.predict.object_size import estimate_object_size, size_model_of, typical_object_size  # noqa: E402
from napari_deepcolor.zoo import bundled_models  # noqa: E402


def cases(name: str, mask: bool):
    """(kind, image, labels, true size against the resize or canvas) of a model's held-out images."""
    for factor in FACTORS:
        for image, truth in images_for(name, "test"):
            yield "resized", resized(image, factor, kind="mask" if mask else "image"), truth, factor
    for _, image, truth in other_extents(name):
        yield "other extents", image, truth, 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=sorted(bundled_models()))
    args = parser.parse_args()
    print("| model | images | estimate > 20 % off | of those, warned | estimate within 20 % | of those, warned |")
    print("|---|---|---|---|---|---|")
    totals = np.zeros((2, 2), int)  # [off, ok] x [warned, silent]
    for name in [m for m in args.models if not (m.startswith("worms") and not BBBC010.is_dir())]:
        model = load_model(name, device="cpu")
        object_px = size_model_of(model.metadata).object_px
        counts = {kind: np.zeros((2, 2), int) for kind in ("resized", "other extents")}
        for kind, image, truth, factor in cases(name, model.config.mask_input):
            own = typical_object_size(truth) / object_px if np.isfinite(object_px) else 1.0
            size = estimate_object_size(model, image)
            off = abs(size.factor / (factor * own) - 1) > 0.2
            counts[kind][int(not off), int("field of view" not in size.note)] += 1
        for kind, c in counts.items():
            totals += c
            print(f"| `{name}`, {kind} | {c.sum()} | {c[0].sum()} | {c[0, 0]} | {c[1].sum()} | {c[1, 0]} |",
                  flush=True)
    print(f"\nAll: {totals.sum()} images; of the {totals[0].sum()} estimates more than 20 % off, {totals[0, 0]} "
          f"warned; of the {totals[1].sum()} within 20 %, {totals[1, 0]} warned.")


if __name__ == "__main__":
    main()
