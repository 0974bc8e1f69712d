"""`nuclei` with the automatic object size on generated fields unlike its training images (the generator's own
options: extent, coverage, nucleus diameter), against object size 1 and the classical floor (Otsu + distance
watershed, fixed settings: experiments/zoo/evaluate_zoo.py). Seeds 20,000-20,003, used for nothing else. Prints one
line a field (docs/models/nuclei.md).

    OMP_NUM_THREADS=1 python experiments/object_size/nuclei_fields.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from napari_deepcolor.metrics import evaluate
from napari_deepcolor.predict.network import load_model, segment
from napari_deepcolor.predict.object_size import estimate_object_size
from napari_deepcolor.predict.size_refine import segment_refined
from napari_deepcolor.training.synthetic_nuclei import nuclei_field

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "zoo"))
from evaluate_zoo import WATERSHED, floors  # noqa: E402

FIELDS = {
    "256 x 256, the training look": {},
    "512 x 512, sparse (2-4 % covered)": dict(shape=(512, 512), coverage=(0.02, 0.04), min_visible=3),
    "512 x 512, dense (50-60 % covered)": dict(shape=(512, 512), coverage=(0.5, 0.6)),
    "512 x 512, nuclei 10-12 px": dict(shape=(512, 512), diameter=(10.0, 12.0)),
    "512 x 512, nuclei 50-60 px": dict(shape=(512, 512), diameter=(50.0, 60.0)),
    "520 x 696, nuclei 30-36 px": dict(shape=(520, 696), diameter=(30.0, 36.0)),
}


def main() -> None:
    model = load_model("nuclei", device="cpu")
    for name, options in FIELDS.items():
        auto, one, sizes = [], [], []
        pairs = [nuclei_field(seed, **options) for seed in range(20_000, 20_004)]
        floor = np.mean([r["ap50"] for r in floors("nuclei", pairs)[WATERSHED]])
        for image, truth in pairs:
            estimate = estimate_object_size(model, image)
            _, size, (instances, _) = segment_refined(model, image, estimate)
            auto.append(evaluate(truth, instances.labels)["ap50"])
            one.append(evaluate(truth, segment(model, image)[0].labels)["ap50"])
            sizes.append(f"{estimate.factor:.2f}->{size.factor:.2f}")
        print(f"{name:36s} AP50 auto {np.mean(auto):.3f}, at size 1 {np.mean(one):.3f}, floor {floor:.3f}; sizes "
              f"{sizes}", flush=True)


if __name__ == "__main__":
    main()
