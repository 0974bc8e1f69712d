"""Snapping an automatic size to the model's scale, where the network reads the image's own pixels: chosen on
training images only.

Why: `worms-mask` at 0.5x scores 0.928 AP50 at the true size and 0.822 with *auto* on the held-out wells, though
*auto*'s median estimate there is 0.505 (docs/scale.md). Its scale is 0.5: at object size 0.5 the image is not
resized at all, and at 0.49 or 0.52 it is resized by 2-4 %, which only blurs (on 8 training wells at 0.5x: 0.780
at 0.5 against 0.751 at 0.48 and 0.734 at 0.52, mask_resampling.log). A size within a few percent of the scale is
no more telling than a size within a few percent of 1, which *auto* already snaps to 1
(`object_size.pixel_size`, used by the estimate and by the second step's corrections).

The rule, written before any of it ran: the four bundled models whose scale is not 1 (`worms`, `worms-mask`,
`leaves`, `leaves-semiconv`), 8 training images each (spread over their training images, as size_sensitivity.py
picks them), resized by 0.5 and 0.67 (the factors where a band of at most 10 % around 0.5 can act). Arms: the band
`PIXEL_SNAP` = 1 (off, as it was), 1.05 and 1.10. The arm with the best AP50 with *auto* (estimate, then the second
step), averaged over the 4 models x 2 factors, is adopted if it beats "off" by at least 0.005 on that average and no
model x factor mean drops by more than 0.01; else the snap stays off.

    OMP_NUM_THREADS=2 python experiments/object_size/pixel_snap.py

Result (2026-12-06): mean AP50 with *auto* 0.699 off, 0.702 at 5 % (+0.002; `worms-mask` 0.5x 0.735 -> 0.757,
`leaves` 0.5x +0.010, `worms` 0.5x -0.005, `leaves` 0.67x -0.009), 0.699 at 10 % (worst -0.018): below the 0.005
asked, so the snap stays off. The code that ran it (`object_size.pixel_size`, applied in `decide` and to
`size_refine.refine`'s corrections) was not kept; it is `pixel_snap.patch` beside this script (`git apply` it to
rerun). It reads as a mask-input effect; a rule for mask-input models alone would be chosen after seeing this, and
was not tried.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "experiments" / "object_size"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_object_size import resized
from data import images_for

from napari_deepcolor.metrics import evaluate
from napari_deepcolor.predict import object_size  # PIXEL_SNAP: see the result above
from napari_deepcolor.predict.network import load_model
from napari_deepcolor.predict.object_size import estimate_object_size
from napari_deepcolor.predict.size_refine import segment_refined

MODELS = ("worms", "worms-mask", "leaves", "leaves-semiconv")
FACTORS = (0.5, 0.67)
ARMS = (1.0, 1.05, 1.10)


def auto_ap50(model, image: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """AP50 with *auto* and the size it used."""
    size = estimate_object_size(model, image)
    _, size, (instances, _) = segment_refined(model, image, size)
    return evaluate(truth, instances.labels)["ap50"], size.factor


def main() -> None:
    means: dict[float, dict[tuple[str, float], float]] = {arm: {} for arm in ARMS}
    for name in MODELS:
        model = load_model(name, device="cpu")
        kind = "mask" if model.config.mask_input else "image"
        train = images_for(name, "train")
        picked = [train[i] for i in np.linspace(0, len(train) - 1, 8).round().astype(int)]
        for factor in FACTORS:
            cases = [(resized(im, factor, kind=kind), resized(tr, factor, kind="labels")) for im, tr in picked]
            for arm in ARMS:
                object_size.PIXEL_SNAP = arm
                results = [auto_ap50(model, image, truth) for image, truth in cases]
                means[arm][(name, factor)] = float(np.mean([r[0] for r in results]))
                sizes = " ".join(f"{r[1]:.2f}" for r in results)
                print(f"{name} {factor:g}x band {arm:g}: auto AP50 {means[arm][(name, factor)]:.3f}  sizes {sizes}",
                      flush=True)
    off = means[1.0]
    for arm in ARMS:
        gains = [means[arm][key] - off[key] for key in off]
        print(f"band {arm:g}: mean auto AP50 {np.mean(list(means[arm].values())):.3f}, gain {np.mean(gains):+.4f}, "
              f"worst {min(gains):+.3f}")
    best = max(ARMS[1:], key=lambda arm: np.mean(list(means[arm].values())))
    gains = [means[best][key] - off[key] for key in off]
    adopt = np.mean(gains) >= 0.005 and min(gains) >= -0.01
    print(f"-> {'adopt band ' + format(best, 'g') if adopt else 'snap stays off'}")


if __name__ == "__main__":
    main()
