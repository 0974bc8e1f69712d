"""The default-model suggestion's phase-contrast test (`napari_deepcolor.zoo.suggest`, rule 4), before and after it
measured how deep the darkest pixels lie below the background instead of counting pixels 0.1 below it.

Before: E. coli when the background (the histogram's mode) is at 0.15 or above and at least 2 % of the pixels lie
0.1 below it. A micro-colony on a larger canvas (`ecoli_colony(shape=(512, 512))`) has too few cells for 2 %, and its
noisy cells lie barely 0.1 below the background, so 13 % of those images (8 of 60, seeds 100-159) were read as
fluorescent nuclei. After: E. coli when the darkest 2 % of the lightly smoothed sample lie at least
`DARK_OBJECTS` (0.1) of the span from the background to the 99th percentile below the background. That threshold
was read off seeds 30,000-30,039 of the nuclei generator's variants (at most 0.076) and colonies 0-39 and 100-139
(at least 0.125); this script reports both rules on other seeds (50,000-50,099, colonies 1,000-1,199), on the 49
BBBC010 wells and on the bundled samples. Prints a table (docs/widget.md).

    python experiments/zoo/suggest_rule.py
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import tifffile

from napari_deepcolor._sample_data import SAMPLES_DIR
from napari_deepcolor.training.synthetic_nuclei import nuclei_field
from napari_deepcolor.training.synthetic_scenes import ecoli_colony
from napari_deepcolor.zoo import suggest
from napari_deepcolor.zoo.suggest import ECOLI, NUCLEI, WORMS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "object_size"))
from nuclei_fields import FIELDS as NUCLEI_VARIANTS  # noqa: E402  (the six kinds of field)

BBBC010 = Path(__file__).resolve().parents[3] / "shared" / "data" / "bbbc010" / "train" / "images"
SEEDS = range(50_000, 50_100)


def before(sample, crop, *, integer):
    """Rule 4 as it was (steps 2, 3 and 5 unchanged)."""
    kind, _ = suggest._gray_kind(sample, crop, integer=integer)
    if kind not in (ECOLI, NUCLEI):
        return kind
    low, high = (float(v) for v in np.percentile(sample, (0.5, 99.5)))
    scaled = np.clip((sample - low) / (high - low), 0, 1)
    differences = np.diff(crop.astype(np.float32), axis=1)
    noise = 1.4826 * float(np.median(np.abs(differences - np.median(differences)))) / np.sqrt(2) / (high - low)
    histogram, _ = np.histogram(scaled, 64, (0, 1))
    kernel = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)
    mode = (float(np.argmax(np.convolve(histogram, kernel, "same"))) + 0.5) / 64
    darker = float(np.mean(scaled < mode - max(0.1, 3 * noise)))
    brighter = float(np.mean(scaled > mode + max(0.2, 3 * noise)))
    if mode >= 0.15 and darker >= 0.02 and brighter >= 0.01:
        return ECOLI
    if float(np.percentile(scaled, 10)) <= 0.2 and darker < 0.02 and brighter >= 0.005:
        return NUCLEI
    return None


def kinds(images):
    old, new = Counter(), Counter()
    for image in images:
        sample, crop = suggest._read(image, image.shape[-2:])
        integer = bool(np.issubdtype(sample.dtype, np.integer))
        old[before(suggest._finite(sample), suggest._finite(crop), integer=integer)] += 1
        new[suggest.suggest_kind(image)[0]] += 1
    return old, new


def main() -> None:
    sets = {"BBBC010, 49 training wells": (WORMS, [tifffile.imread(p) for p in sorted(BBBC010.glob("*.tif"))]),
            "bundled E. coli sample": (ECOLI, [tifffile.imread(SAMPLES_DIR / "ecoli_colony.tif")]),
            "bundled nuclei sample": (NUCLEI, [tifffile.imread(SAMPLES_DIR / "nuclei.tif")]),
            "generated colonies, 256 x 256 (seeds 1,000-1,099)": (ECOLI, [ecoli_colony(s)[0] for s in range(1000, 1100)]),
            "generated colonies on a 512 x 512 canvas (seeds 1,100-1,199)":
                (ECOLI, [ecoli_colony(s, shape=(512, 512))[0] for s in range(1100, 1200)])}
    for name, options in NUCLEI_VARIANTS.items():
        sets[f"generated nuclei, {name} (seeds 50,000-50,099)"] = (NUCLEI, [nuclei_field(s, **options)[0]
                                                                            for s in SEEDS])
    print("| images | right kind | told right, before | told right, now | now read as |")
    print("|---|---|---:|---:|---|")
    for name, (kind, images) in sets.items():
        old, new = kinds(images)
        wrong = ", ".join(f"{k or 'no kind'} {n}" for k, n in new.items() if k != kind) or "-"
        print(f"| {name} | {kind} | {old[kind]} of {len(images)} | {new[kind]} of {len(images)} | {wrong} |",
              flush=True)


if __name__ == "__main__":
    main()
