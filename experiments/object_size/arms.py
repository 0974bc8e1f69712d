"""Shared by the experiments that weigh an `object_size` flag against the package as it is ("now"): one case run
through the full automatic path (estimate, then the check on the segmented objects) in each arm."""

from __future__ import annotations

import time
from typing import Any

from flags import flag

from napari_deepcolor.metrics import evaluate
from napari_deepcolor.predict import object_size
from napari_deepcolor.predict.size_refine import segment_refined


def auto_arms(model: Any, image: Any, truth: Any, arms: dict[str, Any], name: str, *, commit: str) -> dict:
    """Each arm of ``arms`` (the first is "now") on one case, with ``object_size.<name>`` set to its value:
    {arm: estimate, kept size, predictions, seconds of the estimate and of all of *auto*, AP50}. An arm whose
    estimate equals now's continues as now did (the same predictions); only its estimate is timed again."""
    out: dict[str, dict] = {}
    for arm, value in arms.items():
        with flag(object_size, name, value, commit=commit):
            t0 = time.perf_counter()
            size = object_size.estimate_object_size(model, image)
            seconds = time.perf_counter() - t0
        if out and size.factor == out["now"]["estimate"]:
            out[arm] = {**out["now"], "estimate_seconds": seconds,
                        "seconds": seconds + out["now"]["seconds"] - out["now"]["estimate_seconds"]}
            continue
        t0 = time.perf_counter()
        _, kept, (instances, _) = segment_refined(model, image, size)
        out[arm] = {"estimate": size.factor, "factor": kept.factor, "passes": kept.passes,
                    "estimate_seconds": seconds, "seconds": seconds + time.perf_counter() - t0,
                    "ap50": evaluate(truth, instances.labels)["ap50"]}
    return out


def verdict(checks: dict[str, bool], name: str, value: Any) -> bool:
    """Print each check of a rule and what it decides for ``object_size.<name>``; whether all passed."""
    adopted = all(checks.values())
    print(" ".join(f"({k}) {'passes' if v else 'fails'}" for k, v in checks.items())
          + f" -> {f'adopted: {name} = {value}' if adopted else f'not adopted: {name} leaves the package'}")
    return adopted
