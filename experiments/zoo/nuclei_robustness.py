"""Nuclei models on generated fields with what real fluorescence images often have and the generator's default
images do not: saturated nuclei, strong blur, a cytoplasmic stain, JPEG compression, an illumination ramp. Each
perturbation is written here, apart from the generator's own artefacts (`training.nuclei_artefacts`), so a model
trained with those is not tested on its own code. Seeds 60,000-60,019, used for nothing else. With the defaults
(automatic object size, stored knobs), beside the classical floor (Otsu + distance watershed, fixed settings).
Prints a table (docs/models/nuclei.md).

    OMP_NUM_THREADS=2 python experiments/zoo/nuclei_robustness.py --models nuclei runs/nuclei-artefacts/last.safetensors
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from napari_deepcolor.metrics import evaluate
from napari_deepcolor.predict.network import load_model
from napari_deepcolor.predict.object_size import estimate_object_size
from napari_deepcolor.predict.size_refine import segment_refined
from napari_deepcolor.training.synthetic_nuclei import nuclei_field

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_zoo import WATERSHED, floors  # noqa: E402

SEEDS = range(60_000, 60_020)


def _float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32)


def saturated(image, labels, rng, quantile):
    """Nuclei clipped at a quantile of their own intensities (the camera's or the export's ceiling)."""
    return np.minimum(_float(image), np.percentile(image[labels > 0], quantile))


def blurred(image, labels, rng, sigma):
    return ndi.gaussian_filter(_float(image), sigma)


def cytoplasm(image, labels, rng, strength):
    """A dim, grainy stain fading over ~8 px around every nucleus, ``strength`` times the median nucleus signal."""
    x = _float(image)
    signal = np.median(x[labels > 0]) - np.percentile(x, 5)
    halo = np.exp(-ndi.distance_transform_edt(labels == 0) / 8.0) * (labels == 0)
    return x + strength * signal * ndi.gaussian_filter(halo, 2) * rng.uniform(0.6, 1.4, x.shape).astype(np.float32)


def jpeg(image, labels, rng, quality):
    """Saved as an 8-bit JPEG (Pillow) after percentile scaling."""
    low, high = np.percentile(image, (0.1, 99.9))
    eight = np.clip((image - low) / (high - low) * 255, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(eight).save(buffer, format="JPEG", quality=quality)
    return np.array(Image.open(buffer))


def ramp(image, labels, rng, strength):
    """A left-to-right illumination ramp rising to ``strength`` times the median nucleus signal."""
    x = _float(image)
    signal = np.median(x[labels > 0]) - np.percentile(x, 5)
    return x + strength * signal * np.linspace(0, 1, x.shape[1], dtype=np.float32)[None, :]


PERTURBATIONS = {
    "none": (lambda image, labels, rng, _: _float(image), None),
    "saturated at the nuclei's median": (saturated, 50), "saturated at their 20th percentile": (saturated, 20),
    "blur σ 2.5": (blurred, 2.5), "blur σ 4": (blurred, 4.0),
    "cytoplasmic stain 0.3": (cytoplasm, 0.3), "cytoplasmic stain 0.6": (cytoplasm, 0.6),
    "JPEG quality 50": (jpeg, 50), "JPEG quality 20": (jpeg, 20),
    "illumination ramp 1x": (ramp, 1.0), "illumination ramp 3x": (ramp, 3.0),
}


def ap50_auto(model, image, truth) -> float:
    """AP50 of ``model`` on ``image`` with the automatic object size (the estimate, then the second step)."""
    estimate = estimate_object_size(model, image)
    _, _, (instances, _) = segment_refined(model, image, estimate)
    return evaluate(truth, instances.labels)["ap50"]


def robustness_table(names: list[str], changes: Iterable[tuple[str, list[tuple[np.ndarray, np.ndarray]]]], *,
                     floor: Callable[[list], float] | None = None) -> None:
    """Print each model's mean AP50 (automatic object size) on each ``(change, [(image, truth), ...])``, a floor's
    beside them if given, and the mean over the changes after the first (the unchanged images)."""
    models = {name: load_model(name, device="cpu") for name in names}
    print("| change | " + " | ".join(f"`{Path(n).name}` AP50" for n in models) + (" | floor AP50 |" if floor else " |"))
    print("|---|" + "---:|" * (len(models) + bool(floor)))
    means = {name: [] for name in models}
    for change, images in changes:
        scores = {m: float(np.mean([ap50_auto(model, im, t) for im, t in images])) for m, model in models.items()}
        for m, score in scores.items():
            means[m].append(score)
        print(f"| {change} | " + " | ".join(f"{s:.3f}" for s in scores.values()) +
              (f" | {floor(images):.3f} |" if floor else " |"), flush=True)
    print("| **mean over the changes** (not the first) | " +
          " | ".join(f"**{np.mean(v[1:]):.3f}**" for v in means.values()) + (" | |" if floor else " |"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["nuclei"])
    parser.add_argument("--seeds", type=int, nargs=2, default=(SEEDS.start, SEEDS.stop), metavar=("FIRST", "STOP"))
    args = parser.parse_args()
    pairs = [nuclei_field(seed) for seed in range(*args.seeds)]

    def changes():
        for name, (perturb, amount) in PERTURBATIONS.items():
            rng = np.random.default_rng(0)
            yield name, [(perturb(image, truth, rng, amount), truth) for image, truth in pairs]

    robustness_table(args.models, changes(),
                     floor=lambda images: float(np.mean([r["ap50"] for r in floors("nuclei", images)[WATERSHED]])))


if __name__ == "__main__":
    main()
