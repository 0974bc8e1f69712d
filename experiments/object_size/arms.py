"""Shared by the experiments that weigh an `object_size` flag against the package as it is ("now"): one case run
through the full automatic path (estimate, then the check on the segmented objects) in each arm."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
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


def rule_main(doc: str, measure: Callable[[], list[dict]], judge: Callable[[list[dict]], bool]) -> None:
    """The command line of a rule's script: ``--save F`` measures and keeps the rows, ``--load F ...`` judges kept
    rows without measuring."""
    from jsonl import load_or_measure

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--save", type=Path)
    parser.add_argument("--load", nargs="+")
    args = parser.parse_args()
    judge(load_or_measure(args.load, args.save, measure))


def tallies(rows: list[dict], arms: dict[str, Any]) -> dict[str, Any]:
    """What the flag rules compare, per arm: on the "resized" cases the kept sizes within 20 % of the true size
    (a count) and the mean AP50 with *auto*; on the "sparse" cases the mean AP50 per resize factor."""
    from coarse_first import _hit

    resized = [r for r in rows if r["kind"] == "resized"]

    def mean(subset: list[dict], arm: str) -> float:
        return float(np.mean([r[arm]["ap50"] for r in subset]))

    sparse = {f: [r for r in rows if r["kind"] == "sparse" and r["factor"] == f] for f in (1.0, 2.0)}
    return {"resized": resized, "new": list(arms)[1],
            "hits": {arm: sum(_hit(r, arm) for r in resized) for arm in arms},
            "ap": {arm: mean(resized, arm) for arm in arms},
            "sparse": {f: {arm: mean(subset, arm) for arm in arms} for f, subset in sparse.items()}}


#: The resize factors of the flag rules' "resized" cases.
FACTORS = (0.5, 0.67, 1.0, 1.5, 2.0, 3.0)


def resized_cases(model: Any, name: str, run: Callable[..., dict], chosen: list[int]) -> list[dict]:
    """The rows of a rule's "resized" cases: model ``name``'s training images ``chosen``, each resized by `FACTORS`
    and run through ``run(model, image, truth)``; the true size as the benchmark takes it (the factor, times the
    image's own objects against the training objects for a size model fitted with labels). The first image is run
    once before, unrecorded: a process's first pass is slower."""
    from bench_object_size import _own_size, resized
    from data import images_for

    from napari_deepcolor.predict import object_size

    object_px = object_size.size_model_of(model.metadata).object_px
    kind = "mask" if model.config.mask_input else "image"
    train = images_for(name, "train")
    run(model, *train[chosen[0]])
    rows = []
    for i in chosen:
        image, truth = train[i]
        for factor in FACTORS:
            x, t = resized(image, factor, kind=kind), resized(truth, factor, kind="labels")
            rows.append({"model": name, "kind": "resized", "image": int(i), "factor": factor,
                         "true": factor * _own_size(truth, object_px), **run(model, x, t)})
            print(json.dumps(rows[-1]), flush=True)
    return rows
