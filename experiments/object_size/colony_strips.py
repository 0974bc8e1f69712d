"""Small crops: 84-row strips of the real colony's test part (rows 167-333, at four offsets) with `ecoli-semiconv`
and `ecoli`: the regression's estimate, the size the second step kept and its predictions, AP50 with *auto* and at
object size 1 (docs/scale.md, "Small crops").

    OMP_NUM_THREADS=2 python experiments/object_size/colony_strips.py
"""

from __future__ import annotations

from pathlib import Path

import tifffile

from napari_deepcolor.metrics import evaluate
from napari_deepcolor.predict.network import load_model, segment
from napari_deepcolor.predict.object_size import estimate_object_size
from napari_deepcolor.predict.size_refine import segment_refined

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "napari_deepcolor" / "samples"


def main() -> None:
    image = tifffile.imread(SAMPLES / "ecoli_colony.tif")
    labels = tifffile.imread(SAMPLES / "ecoli_colony_labels.tif")
    for name in ("ecoli-semiconv", "ecoli"):
        model = load_model(name, device="cpu")
        for top in (167, 190, 220, 250):
            strip, truth = image[top:top + 84], labels[top:top + 84]
            estimate = estimate_object_size(model, strip)
            _, size, (instances, _) = segment_refined(model, strip, estimate)
            at_one = evaluate(truth, segment(model, strip)[0].labels)["ap50"]
            print(f"{name} rows {top}-{top + 84}: estimate {estimate.factor:.2f}, kept {size.factor:.2f} "
                  f"({size.passes} predictions), AP50 auto {evaluate(truth, instances.labels)['ap50']:.3f}, "
                  f"at size 1 {at_one:.3f}", flush=True)


if __name__ == "__main__":
    main()
