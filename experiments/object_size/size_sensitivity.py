"""How sharply a model's AP50 depends on the exact object size, on its own training images (8 of them) resized by 0.5,
3 and 2 and segmented at sizes 2-8 % around the truth (docs/scale.md, the rows *auto* misses).

    OMP_NUM_THREADS=2 python experiments/object_size/size_sensitivity.py worms-mask
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "experiments" / "object_size"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_object_size import resized  # noqa: E402
from data import images_for  # noqa: E402

from napari_deepcolor.metrics import evaluate  # noqa: E402
from napari_deepcolor.predict.network import at_object_size, load_model, segment  # noqa: E402

#: Resize factors of the training images, and the object sizes each is segmented at.
GRID = ((0.5, (0.46, 0.48, 0.5, 0.52, 0.54)), (3.0, (2.8, 2.9, 3.0, 3.1, 3.2)), (2.0, (1.9, 1.95, 2.0, 2.05, 2.1)))


def main(name: str) -> None:
    model = load_model(name, device="cpu")
    kind = "mask" if model.config.mask_input else "image"
    train = images_for(name, "train")
    picked = [train[i] for i in np.linspace(0, len(train) - 1, 8).round().astype(int)]
    for factor, sizes in GRID:
        scores: dict[float, list[float]] = {size: [] for size in sizes}
        for image, truth in picked:
            image, truth = resized(image, factor, kind=kind), resized(truth, factor, kind="labels")
            for size in sizes:
                scores[size].append(evaluate(truth, segment(at_object_size(model, size), image)[0].labels)["ap50"])
        print(f"{name}, training images resized by {factor:g}: "
              + "  ".join(f"size {size:g}: AP50 {np.mean(v):.3f}" for size, v in scores.items()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "worms-mask")
