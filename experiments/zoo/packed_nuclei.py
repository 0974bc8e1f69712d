"""The default-model rule on packed fluorescent nuclei read as E. coli: where do the brightest pixels lie?

With the rule of `napari_deepcolor.zoo.suggest` (2026-12-07), dense clumps of generated nuclei with real images'
artefacts are read as phase contrast: their dark gaps are "dark objects" and the nuclei around them "bright halos"
(6 of 200 on seeds 60,000-60,199; `ecoli-semiconv` then runs and finds nothing). The scale-free statistics tried
before (bright and dark structures' thickness, the ring around dark regions, the Laplacian's sign asymmetry, the
p99/p1 ratio) put the real E. coli image inside the nuclei range.

What differs: in phase contrast the brightest pixels are halos that hug the dark cells; in fluorescence they are
the nuclei's centres, far from the dark gaps. `suggest._bright_from_dark`: the median distance from the brightest
10 % of the sample to its darkest 30 %, divided by the dark regions' thickness (twice their pixels' mean distance
to the regions' edge). Above `suggest.PACKED` (1.0) an image that step 4 reads as E. coli is read as packed nuclei.

Chosen by looking (``--select``) at 1,000 generated nuclei fields with artefacts (seeds 70,000-70,999: 13 read as
E. coli), 200 generated colonies (seeds 2,000-2,099 at 256 px, 2,100-2,199 at 512 px) and the real E. coli image
whole, as its two strips, and rescaled by 0.5, 1.5 and 2: of the shares tried (darkest 10-50 %, brightest 2-10 %),
darkest 30 % / brightest 10 % left the widest gap around the real image: colonies at most 0.85, the real image and
its variants at most 0.62, the 13 misread nuclei fields at least 1.12. The threshold is the round number between.

Rule, written before the confirmation ran: the test (`suggest.BRIGHT_FROM_DARK_TEST`) is adopted if, on images none
of the choices looked at, (a) generated nuclei fields with artefacts read as E. coli fall by at least half (seeds
100,000-100,999), (b) generated colonies told right fall by at most 1 of 300 (seeds 3,000-3,199 at 256 px,
3,200-3,299 at 512 px), (c) the real E. coli image and each of its variants above stay E. coli, and (d) nothing else
changes kind: the 49 BBBC010 wells, the bundled samples, and the six kinds of nuclei field (seeds 100,000-100,029
each). The test can only turn E. coli into nuclei. Then `suggest_rule.py`'s table (its own seeds) is measured again
for docs/widget.md.

Result (2026-12-07): adopted (`suggest.BRIGHT_FROM_DARK_TEST` on). On the confirmation images: 12 nuclei fields with
artefacts of 1,000 changed, all from E. coli to nuclei (nuclei 982 -> 994 of 1,000); colonies 300 of 300 E. coli
before and after; the real E. coli image and its five variants E. coli before and after; the 49 wells, the samples and
the 180 nuclei fields of six kinds unchanged.

    python experiments/zoo/packed_nuclei.py            # the confirmation and its verdict
    python experiments/zoo/packed_nuclei.py --select   # the choice's numbers
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import tifffile

from napari_deepcolor.training.synthetic_scenes import ecoli_colony, synthetic_pairs
from napari_deepcolor.zoo import suggest
from napari_deepcolor.zoo.suggest import ECOLI, NUCLEI, WORMS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suggest_rule import BBBC010, ECOLI_REAL, SAMPLES_DIR, without_and_with

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "object_size"))
from nuclei_fields import FIELDS as NUCLEI_VARIANTS


def both(image) -> tuple[str | None, str | None]:
    """The kind without the test, and with it."""
    return without_and_with(image, "BRIGHT_FROM_DARK_TEST")


def real_variants() -> list[np.ndarray]:
    from skimage.transform import rescale

    if not ECOLI_REAL.is_file():
        return []
    real = tifffile.imread(ECOLI_REAL).astype(np.float32)
    return [real, real[:167], real[167:], rescale(real, 0.5), rescale(real, 1.5), rescale(real, 2)]


def statistic(image) -> float:
    sample, _ = suggest._read(image, image.shape[-2:])
    return suggest._bright_from_dark(suggest._stretched(suggest._finite(sample))[0])


def select() -> None:
    saved, suggest.BRIGHT_FROM_DARK_TEST = suggest.BRIGHT_FROM_DARK_TEST, False
    try:
        misread = [statistic(i) for i, _ in synthetic_pairs("nuclei-artefacts", 1000, seed=70_000)
                   if suggest.suggest_kind(i)[0] == ECOLI]
        colonies = [statistic(ecoli_colony(s, shape=(256, 256) if s < 2100 else (512, 512))[0])
                    for s in range(2000, 2200)]
    finally:
        suggest.BRIGHT_FROM_DARK_TEST = saved
    real = [statistic(i) for i in real_variants()]
    print(f"colonies (200): max {max(colonies):.2f}; real E. coli and its variants: max {max(real):.2f}; "
          f"nuclei fields read as E. coli ({len(misread)} of 1,000): min {min(misread):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--select", action="store_true")
    if parser.parse_args().select:
        select()
        return
    sets = {"artefacts 100,000-100,999": (NUCLEI, [i for i, _ in synthetic_pairs("nuclei-artefacts", 1000,
                                                                                  seed=100_000)]),
            "colonies 256 (3,000-3,199)": (ECOLI, [ecoli_colony(s)[0] for s in range(3000, 3200)]),
            "colonies 512 (3,200-3,299)": (ECOLI, [ecoli_colony(s, shape=(512, 512))[0] for s in range(3200, 3300)]),
            "real E. coli and its variants": (ECOLI, real_variants()),
            "BBBC010 49 wells": (WORMS, [tifffile.imread(p) for p in sorted(BBBC010.glob("*.tif"))]),
            "samples": (None, [tifffile.imread(SAMPLES_DIR / n) for n in ("ecoli_colony.tif", "nuclei.tif")])}
    from napari_deepcolor.training.synthetic_nuclei import nuclei_field

    for name, options in NUCLEI_VARIANTS.items():
        sets[f"nuclei {name}"] = (NUCLEI, [nuclei_field(s, **options)[0] for s in range(100_000, 100_030)])
    results = {}
    for name, (kind, images) in sets.items():
        pairs = [both(image) for image in images]
        changes = Counter(f"{old or 'no kind'} -> {new or 'no kind'}" for old, new in pairs if old != new)
        before, after = Counter(old for old, _ in pairs), Counter(new for _, new in pairs)
        results[name] = (changes, before, after, len(images))
        told = f"; {kind}: {before[kind]} -> {after[kind]} of {len(images)}" if kind else ""
        print(f"{name}: changed {sum(changes.values())} ({dict(changes) or '-'}){told}", flush=True)
    arte = results["artefacts 100,000-100,999"]
    colonies = [results[k] for k in ("colonies 256 (3,000-3,199)", "colonies 512 (3,200-3,299)")]
    real = results["real E. coli and its variants"]
    others = [k for k in results if k.startswith(("BBBC010", "samples", "nuclei"))]
    checks = {"(a) nuclei fields read as E. coli halved": arte[2][ECOLI] <= arte[1][ECOLI] / 2,
              "(b) colonies lose at most 1": sum(c[1][ECOLI] - c[2][ECOLI] for c in colonies) <= 1,
              "(c) the real E. coli stays": real[2][ECOLI] == real[3],
              "(d) nothing else changes": not any(sum(results[k][0].values()) for k in others)}
    for check, ok in checks.items():
        print(f"{check}: {'yes' if ok else 'NO'}")
    print("verdict:", "adopt" if all(checks.values()) else "not adopted")


if __name__ == "__main__":
    main()
