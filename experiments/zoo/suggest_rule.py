"""The default-model suggestion's tests between phase contrast and fluorescence (`napari_deepcolor.zoo.suggest`,
rules 4 and 5), before and after two structural tests were added (2026-12-06).

Before: E. coli when the darkest 2 % of the lightly smoothed sample lie at least `DARK_OBJECTS` of the span from the
background (the histogram's mode) up to the 99th percentile below the background; fluorescent nuclei when they do
not and the darkest tenth is near black. Two kinds of image fooled it:
- generated nuclei with the artefacts of real images (`nuclei-artefacts`): uneven illumination makes one side of the
  field darker than the background's mode, so 25 of 60 (seeds 0-59) were read as E. coli;
- a colony that fills the image, whose mode is the cells' level: 6 of 200 (seeds 0-199) were read as nuclei.
After, on top of that: "objects darker than the background" must be many small dark regions (the darkest 2 % with at
most `ONE_DARK_REGION` of them in one connected piece: colonies at most 0.15, the misread nuclei 0.31-1.0), and
nuclei need one connected dark background (`CONNECTED_BACKGROUND`: the pixels up to half-way from the mode to the
99th percentile with at least 0.95 of them in one piece: every nuclei field 0.98-1.0, colonies 0.12-0.91), where
separate dark pieces between bright halos mean E. coli. Both thresholds were set on those seeds, the nuclei fields'
seeds 30,000-30,029 and the 49 BBBC010 wells; this script reports both rules on other seeds (nuclei 50,000-50,099,
artefacts 60,000-60,199, colonies 1,000-1,199), on the 49 wells and on the bundled samples and the real E. coli
image. Prints a table (docs/widget.md).

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
from napari_deepcolor.training.synthetic_scenes import ecoli_colony, synthetic_pairs
from napari_deepcolor.zoo import suggest
from napari_deepcolor.zoo.suggest import ECOLI, NUCLEI, WORMS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "object_size"))
from nuclei_fields import FIELDS as NUCLEI_VARIANTS  # noqa: E402  (the six kinds of field)

BBBC010 = Path(__file__).resolve().parents[3] / "shared" / "data" / "bbbc010" / "train" / "images"
ECOLI_REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "ecoli_omnipose" / "image.tif"
SEEDS = range(50_000, 50_100)


def without_and_with(image, flag: str) -> tuple[str | None, str | None]:
    """The kind ``suggest`` gives ``image`` with its test ``flag`` (a module flag such as ``"THIN_LINES_TEST"``) off,
    and on; the flag is put back as it was (the experiments that added a test compare the two)."""
    saved = getattr(suggest, flag)
    try:
        setattr(suggest, flag, False)
        old = suggest.suggest_kind(image)[0]
        setattr(suggest, flag, True)
        return old, suggest.suggest_kind(image)[0]
    finally:
        setattr(suggest, flag, saved)


def before(sample, crop, *, integer):
    """Rules 4 and 5 as they were: without the two structural tests (steps 2 and 3 unchanged)."""
    saved = suggest.CONNECTED_BACKGROUND, suggest.ONE_DARK_REGION
    suggest.CONNECTED_BACKGROUND, suggest.ONE_DARK_REGION = 0.0, 1.0  # never separate; any darkest region
    try:
        return suggest._gray_kind(sample, crop, integer=integer)[0]
    finally:
        suggest.CONNECTED_BACKGROUND, suggest.ONE_DARK_REGION = saved


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
            "real E. coli image (Omnipose's, ../shared)": (ECOLI, [tifffile.imread(ECOLI_REAL)] if ECOLI_REAL.is_file()
                                                             else []),
            "generated nuclei with real images' artefacts (seeds 60,000-60,199)":
                (NUCLEI, [image for image, _ in synthetic_pairs("nuclei-artefacts", 200, seed=60_000)]),
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
