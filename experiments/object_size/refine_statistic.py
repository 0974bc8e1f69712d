"""Which typical size the second step measures, chosen on training images only: the median √area over objects, or
over foreground pixels (area-weighted). Training images of each model drawn on other extents (generated: training
seeds 0-4 on 512- and 1024-px canvases; BBBC010 and plain rosettes: 2 x 2 mosaics of 5 training images), the
regression's estimate F0, and one correction from each statistic: how often each lands within 20 % of the true
size.

    OMP_NUM_THREADS=2 python experiments/object_size/refine_statistic.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "experiments" / "object_size"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_object_size import _own_size  # noqa: E402
from data import _mosaic, _spatial, images_for  # noqa: E402
from refine_probe import weighted_size  # noqa: E402

from napari_deepcolor.predict.label_sizes import typical_object_size  # noqa: E402
from napari_deepcolor.predict.network import at_object_size, load_model, segment  # noqa: E402
from napari_deepcolor.predict.object_size import estimate_object_size, size_model_of  # noqa: E402
from napari_deepcolor.training.synthetic_scenes import GENERATORS  # noqa: E402


def training_extents(name: str):
    if name.startswith("worms") or name == "leaves":  # wells, and plain rosettes whose plants grow with the canvas
        return [(_mosaic(image), _mosaic(_spatial(labels), relabel=True)) for image, labels in
                images_for(name, "train")[:5]]
    generator = {"ecoli-semiconv": "ecoli", "leaves-semiconv": "rosette"}.get(name, name)
    return [GENERATORS[generator](seed, shape=(n, n)) for n in (512, 1024) for seed in range(5)]


def main() -> None:
    for name in ("ecoli", "ecoli-semiconv", "nuclei", "worms", "worms-mask"):
        model = load_model(name, device="cpu")
        stored = size_model_of(model.metadata)
        scale = model.base_config.scale
        # each statistic's own reference: the training images as they are, decoded at their true size
        refs = {"median": [], "weighted": []}
        train = images_for(name, "train")
        for i in np.linspace(0, len(train) - 1, min(8, len(train))).round().astype(int):
            image, truth = train[i]
            own = _own_size(truth, stored.object_px)
            labels = segment(at_object_size(model, own), image)[0].labels
            refs["median"].append(typical_object_size(labels) * scale / own)
            refs["weighted"].append(weighted_size(labels) * scale / own)
        refs = {k: float(np.nanmedian(v)) for k, v in refs.items()}
        hits = {"estimate": [], "median": [], "weighted": []}
        for image, truth in training_extents(name):
            true = _own_size(truth, stored.object_px)
            f0 = estimate_object_size(model, image).factor
            labels = segment(at_object_size(model, f0), image)[0].labels
            hits["estimate"].append(abs(f0 / true - 1) <= 0.2)
            for key, measure in (("median", typical_object_size), ("weighted", weighted_size)):
                f1 = measure(labels) * scale / refs[key]
                hits[key].append(bool(np.isfinite(f1)) and abs(f1 / true - 1) <= 0.2)
        print(name, {k: f"{np.mean(v):.0%} of {len(v)}" for k, v in hits.items()}, flush=True)


if __name__ == "__main__":
    main()
