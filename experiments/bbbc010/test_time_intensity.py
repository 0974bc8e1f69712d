"""Does the bright-field `worms` model see more of the faint worms when the well's intensities are changed at test
time? A probe on the 10 training wells of choose_tau_on_training_wells.py (no training, the model's recommended
knobs; the validation wells untouched): gamma 0.6 and 1.5 on the percentile-normalized image, a flat field (the
image minus a Gaussian of σ 40 px, plus its mean) and an unsharp mask (σ 3 px, amount 1).

Result (2026-12-07): every transform is worse, mean AP50 0.370-0.537 against 0.627 as the wells are (docs/accuracy.md).

    OMP_NUM_THREADS=2 python experiments/bbbc010/test_time_intensity.py
"""

from __future__ import annotations

import numpy as np
from bbbc010_split import DEFAULT_DATA, read_input, tuning_pairs
from scipy import ndimage as ndi

from napari_deepcolor.io import read_mask_stack
from napari_deepcolor.metrics import evaluate
from napari_deepcolor.predict.network import load_model, segment


def _normalized(x: np.ndarray) -> np.ndarray:
    low, high = np.percentile(x, (1, 99.8))
    return np.clip((x - low) / (high - low), 0, 1)


TRANSFORMS = {
    "as is": lambda x: x,
    "gamma 0.6": lambda x: _normalized(x) ** 0.6,
    "gamma 1.5": lambda x: _normalized(x) ** 1.5,
    "flat field": lambda x: x - ndi.gaussian_filter(x, 40) + ndi.gaussian_filter(x, 40).mean(),
    "unsharp": lambda x: x + (x - ndi.gaussian_filter(x, 3)),
}


def main() -> None:
    model = load_model("worms", device="cpu")
    scores: dict[str, list[float]] = {name: [] for name in TRANSFORMS}
    for image, masks in tuning_pairs(DEFAULT_DATA):
        well, truth = read_input(image, mask_input=False).astype(np.float32), read_mask_stack(masks)
        for name, transform in TRANSFORMS.items():
            instances, _ = segment(model, transform(well))
            scores[name].append(evaluate(truth, instances.labels)["ap50"])
    for name, values in scores.items():
        print(f"{name:12s} mean AP50 {np.mean(values):.3f}  per well {np.round(values, 2).tolist()}")


if __name__ == "__main__":
    main()
