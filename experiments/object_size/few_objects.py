"""Should *auto* fall back to object size 1 when the pass it keeps decodes only a few objects?

Issue 22: "an image with no objects, a single object, ... gets a clear message and falls back to factor 1 instead of
a wild guess". The regression reads a mostly empty view as other sizes (`sparse_foreground.py`: off 1 by more than
25 % on 70 % of one-object images), and the foreground it reads does not tell such images apart. The segmented
objects do: the pass *auto* keeps (`size_refine.refine`) has its instances counted. Candidate rule: fewer than K
decoded instances there -> object size 1 (predicted again at 1 if the kept pass was not), with a note saying why.

Measured here, training images only (`data.images_for(model, "train")`, what the size models were fitted on), for
every bundled model: the first `IMAGES` training images as they are, and made sparse with only their k largest
objects kept (k = 1, 2, 3; the others replaced by the image's own background, smoothed, plus its own residual
noise; in a mask: 0). Per image: the size *auto* keeps, its instance count, AP50 with it, AP50 at size 1, the true
size (the kept objects' typical size against the size model's `object_px`; 1 for models fitted without labels).

The rule, written before this ran: for K in (2, 3, 4), "fallback" rows replace auto's AP50 by AP50 at 1 and its
size by 1 wherever auto's kept pass decoded fewer than K instances. The largest K is adopted for which (a) on the
images as they are it changes no row's size (no full training image decodes fewer than K), (b) on the sparse images
(k = 1-3) the share of sizes off the true size by more than 25 % falls by at least half, and (c) their mean AP50
falls by no more than 0.01. None: nothing changes. Held-out images are looked at only afterwards.

First run (2026-12-07, training images 0-5, sparse seed 0; rows: few_objects_first.jsonl): **failed (b)** for every
K. The sizes off the true size by more than 25 % fell from 64 % to 46 % (K = 2), not by half; but the "true" size of
a sparse image is its largest objects' (1.3-1.7x for nuclei and colonies), which a fallback to 1 cannot meet, and
mean AP50 on the sparse images rose from 0.344 to 0.460 (K = 2), 0.449 (3), 0.442 (4). All of it from `worms-mask`
(0.083 -> 0.935: with one to three worms its estimate read 1.5-2.3 and decoded no worm in 14 of 18 images; at 1 it
finds them); `worms` -0.037 (one image, whose one worm auto found at 0.86), the others unchanged.

The second rule, written after the first run and before this one: K = 2 (the first run's best mean AP50; "a single
object" in the issue's words), confirmed on images not looked at: training images 6-11, sparse seed 1
(``--start 6 --seed 1 --confirm 2``). Adopted if there (a) no image as it is changes, (b) the sparse images' mean AP50
rises by at least 0.02, and (c) no model's sparse mean AP50 falls by more than 0.05.

Second run (training images 6-11, seed 1; rows: few_objects_second.jsonl): **not adopted** by (c). Mean AP50 on
the sparse images 0.302 -> 0.418, `worms-mask` 0.000 -> 0.903, but `worms` -0.065 and `leaves` -0.027: where auto's
kept pass decoded one object, it was the object (AP50 1.0 in all 7 such `worms` and `leaves` images of both runs),
and at size 1 it came apart (0.33-0.5 in 3 of them). Where it decoded none (only `worms-mask`: 13 of 18 and 15 of
18 sparse images; its estimate reads sparse masks as 1.5-2.4), size 1 finds the worms.

The third rule, written after the second run and before this one: K = 1, that is, fall back to 1 only when the
pass auto keeps decoded no object at all (the segmented objects then cannot check the size). On both runs above it
changes only `worms-mask` (0.083 -> 0.769, 0.000 -> 0.833) and nothing else, but both were looked at; so it is
confirmed on training images 12-17 with sparse seed 2 (``--start 12 --seed 2 --confirm 1``), by the second rule's
criteria (a)-(c).

    OMP_NUM_THREADS=2 python experiments/object_size/few_objects.py [--save rows.jsonl] [--models nuclei ...]
    OMP_NUM_THREADS=2 python experiments/object_size/few_objects.py --start 6 --seed 1 --confirm 2 --save rows.jsonl
    OMP_NUM_THREADS=2 python experiments/object_size/few_objects.py --start 12 --seed 2 --confirm 1 --save rows.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data import images_for  # noqa: E402

from napari_deepcolor.metrics import evaluate  # noqa: E402
from napari_deepcolor.predict.label_sizes import typical_object_size  # noqa: E402
from napari_deepcolor.predict.network import at_object_size, load_model, segment  # noqa: E402
from napari_deepcolor.predict.object_size import estimate_object_size, size_model_of  # noqa: E402
from napari_deepcolor.predict.size_refine import segment_refined  # noqa: E402
from napari_deepcolor.zoo import bundled_models  # noqa: E402

IMAGES = 6
KEPT = (1, 2, 3, None)  # None: the image as it is
CANDIDATES = (2, 3, 4)


def _object_masks(truth: np.ndarray) -> list[np.ndarray]:
    truth = np.asarray(truth)
    if truth.ndim == 3:
        return [m > 0 for m in truth]
    return [truth == i for i in np.unique(truth[truth > 0])]


def sparse(image: np.ndarray, truth: np.ndarray, k: int, rng: np.random.Generator, *, mask: bool,
           largest: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``image`` with only its ``k`` largest objects (or ``k`` drawn at random) and their labels: the rest filled
    with the background."""
    masks = _object_masks(truth)
    order = (np.argsort([-m.sum() for m in masks]) if largest else rng.permutation(len(masks)))[:k]
    kept = [masks[i] for i in order]
    gone = np.any([m for i, m in enumerate(masks) if i not in set(order)] or [np.zeros_like(masks[0])], axis=0)
    gone &= ~np.any(kept, axis=0)
    gone = ndi.binary_dilation(gone, iterations=2) & ~np.any(kept, axis=0)
    out = np.array(image, dtype=np.float32, copy=True)
    if mask:
        out[gone] = 0
    else:
        background = ~np.any(masks, axis=0) & ~gone
        stack = out if out.ndim == 3 else out[..., None]
        for c in range(stack.shape[-1]):
            plane = stack[..., c]
            weight = ndi.gaussian_filter(background.astype(np.float32), 12)
            smooth = ndi.gaussian_filter(np.where(background, plane, 0), 12) / np.maximum(weight, 1e-6)
            residual = (plane - ndi.gaussian_filter(plane, 2))[background]
            plane[gone] = smooth[gone] + rng.choice(residual, size=int(gone.sum()))
        out = stack if out.ndim == 3 else stack[..., 0]
    labels = np.zeros(out.shape[:2], np.int32)
    for i, m in enumerate(kept, 1):
        labels[m & (labels == 0)] = i
    return out.astype(np.asarray(image).dtype) if np.asarray(image).dtype.kind == "f" else out, labels


def rows_for(name: str, start: int = 0, seed: int = 0, part: str = "train", count: int = IMAGES) -> list[dict]:
    model, rng, rows = load_model(name, device="cpu"), np.random.default_rng(seed), []
    stored = size_model_of(model.metadata)
    object_px = stored.object_px if stored is not None else float("nan")
    for i, (image, truth) in enumerate(images_for(name, part)[start:start + count], start):
        for k in KEPT:
            x, t = (image, truth) if k is None else sparse(image, truth, k, rng, mask=model.base_config.mask_input)
            size = estimate_object_size(model, x)
            _, size, (instances, _) = segment_refined(model, x, size)
            at_one, _ = segment(at_object_size(model, 1.0), x)
            true = typical_object_size(t) / object_px if np.isfinite(object_px) else 1.0
            row = {"model": name, "image": i, "k": k, "how": size.how, "factor": size.factor, "true": true,
                   "n": int(len(np.unique(instances.labels)) - (instances.labels == 0).any()),
                   "n_one": int(len(np.unique(at_one.labels)) - (at_one.labels == 0).any()),
                   "nothing_at_estimate": "no objects were segmented at the estimated" in size.note,
                   "auto": evaluate(t, instances.labels)["ap50"], "one": evaluate(t, at_one.labels)["ap50"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def _wild(factor: float, true: float) -> bool:
    return abs(np.log(factor / true)) > np.log(1.25)


def judge(rows: list[dict]) -> int | None:
    full = [r for r in rows if r["k"] is None]
    few = [r for r in rows if r["k"] is not None]
    wild0 = np.mean([_wild(r["factor"], r["true"]) for r in few])
    ap0 = np.mean([r["auto"] for r in few])
    print(f"as it is: sparse images {len(few)}, off the true size by > 25 % on {wild0:.0%}, mean AP50 {ap0:.3f}; "
          f"full images {len(full)}, fewest instances decoded {min(r['n'] for r in full)}")
    adopted = None
    for k in CANDIDATES:
        changed = sum(r["n"] < k and r["factor"] != 1 for r in full)
        wild = np.mean([_wild(1.0 if r["n"] < k else r["factor"], r["true"]) for r in few])
        ap = np.mean([r["one"] if r["n"] < k else r["auto"] for r in few])
        ok = changed == 0 and wild <= wild0 / 2 and ap >= ap0 - 0.01
        print(f"K = {k}: full images changed {changed}; sparse: off > 25 % on {wild:.0%}, mean AP50 {ap:.3f}"
              f" -> {'passes' if ok else 'fails'}")
        adopted = k if ok else adopted
    print(f"adopted K = {adopted}" if adopted else "not adopted")
    return adopted


def confirm(rows: list[dict], k: int) -> bool:
    """The second rule (module docstring)."""
    full = [r for r in rows if r["k"] is None]
    few = [r for r in rows if r["k"] is not None]
    changed = sum(r["n"] < k and r["factor"] != 1 for r in full)
    before, after = np.mean([r["auto"] for r in few]), np.mean([r["one"] if r["n"] < k else r["auto"] for r in few])
    worst = 0.0
    for name in sorted({r["model"] for r in few}):
        mine = [r for r in few if r["model"] == name]
        b, a = np.mean([r["auto"] for r in mine]), np.mean([r["one"] if r["n"] < k else r["auto"] for r in mine])
        worst = min(worst, a - b)
        print(f"{name}: sparse AP50 {b:.3f} -> {a:.3f} ({sum(r['n'] < k and r['factor'] != 1 for r in mine)} "
              f"of {len(mine)} changed)")
    ok = changed == 0 and after >= before + 0.02 and worst >= -0.05
    print(f"K = {k}: full images changed {changed}; sparse mean AP50 {before:.3f} -> {after:.3f}; worst model "
          f"{worst:+.3f} -> {'adopted' if ok else 'not adopted'}")
    return ok


def held_out(rows: list[dict]) -> None:
    """Per model, with the adopted fallback (`size_refine`: a pass that segmented nothing at the estimate is replaced
    by one at 1): mean AP50 of the sparse and full images, and as it was before. Before, such an image kept the pass
    that segmented nothing: AP50 0."""
    for name in sorted({r["model"] for r in rows}):
        for what, mine in (("sparse", [r for r in rows if r["model"] == name and r["k"] is not None]),
                           ("as they are", [r for r in rows if r["model"] == name and r["k"] is None])):
            after = np.mean([r["auto"] for r in mine])
            before = np.mean([0.0 if r.get("nothing_at_estimate") else r["auto"] for r in mine])
            changed = sum(bool(r.get("nothing_at_estimate")) for r in mine)
            one = np.mean([r["one"] for r in mine])
            print(f"| {name} | {what} | {len(mine)} | {before:.3f} | {after:.3f} | {one:.3f} | {changed} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save")
    parser.add_argument("--load", help="judge saved rows (jsonl) without running")
    parser.add_argument("--models", nargs="*", default=sorted(bundled_models()))
    parser.add_argument("--start", type=int, default=0, help="first training image")
    parser.add_argument("--seed", type=int, default=0, help="of the sparse images' background")
    parser.add_argument("--confirm", type=int, help="judge K by the second rule")
    parser.add_argument("--part", choices=("train", "test"), default="train",
                        help="test: the held-out images, once the rule is adopted (`held_out`)")
    parser.add_argument("--images", type=int, default=IMAGES)
    args = parser.parse_args()
    if args.load:
        rows = [json.loads(line) for line in Path(args.load).read_text().splitlines() if line.strip()]
    else:
        rows = [row for name in args.models
                for row in rows_for(name, args.start, args.seed, args.part, args.images)]
    if args.save:
        Path(args.save).write_text("".join(json.dumps(r) + "\n" for r in rows))
    if args.part == "test":
        held_out(rows)
    elif args.confirm:
        confirm(rows, args.confirm)
    else:
        judge(rows)


if __name__ == "__main__":
    main()
