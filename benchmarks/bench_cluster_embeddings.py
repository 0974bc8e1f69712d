"""Benchmark of `cluster_embeddings` against k-means (true K) and mean-shift on the same embeddings: speed and accuracy.

Run ``python benchmarks/bench_cluster_embeddings.py`` from the repository root (mean-shift needs scikit-learn:
``pip install scikit-learn``; without it that row is skipped). Two inputs:

1. synthetic: a 512 x 512 scene of overlapping ellipses; every foreground pixel's embedding (D = 8) is its
   instance's code (centroid / 32 on the two positional dimensions, a random appearance vector on the others) plus
   Gaussian noise and 3 % outliers; the foreground is exact;
2. with ``--model``: the embeddings and foreground a trained semiconv model predicts on the 10 BBBC010 validation
   wells (``--data``), at full resolution; truth = the per-worm masks.

Decoders, all on the same foreground pixels:
(a) ``cluster_embeddings`` (σ, kernel threshold 0.5; synthetic: σ = 0.3, with a seed map = K_σ to the instance code,
    which is what the trained seed head approximates, and without one; model: its σ and seed head);
(b) k-means with the true number of instances K (scipy ``kmeans2``, k-means++ initialization, one run);
(c) mean-shift (scikit-learn ``MeanShift``, flat kernel, bandwidth = the kernel radius −σ log 0.5 of (a),
    ``bin_seeding=True``: seeds on a grid of that size, the usual fast setting; ``cluster_all=True``).
Instances smaller than τ pixels are dropped for all three. Writes the section "## Semi-convolutional decoding
(cluster_embeddings)" of ``docs/benchmarks.md`` (only that section is replaced).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy
from scipy import ndimage as ndi
from scipy.cluster.vq import kmeans2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _docs import record  # noqa: E402

from napari_deepcolor.metrics import evaluate, summarize  # noqa: E402
from napari_deepcolor.postprocess.embeddings import cluster_embeddings  # noqa: E402

HEADING = "## Semi-convolutional decoding (cluster_embeddings)"


def make_scene(shape=(512, 512), n_objects=60, dims=8, noise=0.05, outliers=0.03, unit=32.0, seed=0):
    """Synthetic embeddings (D, Y, X) float32, the true label image (Y, X) int32 and the seed map (Y, X)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.int32)
    for k in range(1, n_objects + 1):
        a, b = rng.uniform(10, 40), rng.uniform(5, 14)
        cy, cx, theta = rng.uniform(0, shape[0]), rng.uniform(0, shape[1]), rng.uniform(0, np.pi)
        yy, xx = np.mgrid[: shape[0], : shape[1]]
        u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
        v = -(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)
        labels[(u / a) ** 2 + (v / b) ** 2 <= 1] = k  # later objects occlude earlier ones
    labels = relabel(labels)
    n = int(labels.max())
    centroids = np.asarray(ndi.center_of_mass(np.ones(shape), labels, range(1, n + 1)))
    codes = np.concatenate([centroids / unit, rng.normal(0, 0.5, (n, dims - 2))], axis=1)
    embeddings = np.zeros((dims, *shape), np.float32)
    fg = labels > 0
    pixel_noise = rng.normal(0, noise, (fg.sum(), dims))
    wild = rng.random(fg.sum()) < outliers
    pixel_noise[wild] = rng.normal(0, 0.5, (wild.sum(), dims))
    embeddings[:, fg] = (codes[labels[fg] - 1] + pixel_noise).T
    seeds = np.zeros(shape, np.float32)
    seeds[fg] = np.exp(-np.linalg.norm(pixel_noise, axis=1) / 0.3)
    return embeddings, labels, seeds


def relabel(labels):
    """Consecutive ids, dropping ids that were fully occluded."""
    ids = np.unique(labels)
    lut = np.zeros(int(labels.max()) + 1, np.int32)
    lut[ids[ids > 0]] = np.arange(1, (ids > 0).sum() + 1)
    return lut[labels]


def drop_small(labels, min_size):
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_size
    keep[0] = False
    return relabel(np.where(keep[labels], labels, 0))


def kmeans_decode(embeddings, fg, k, min_size, seed=0):
    points = embeddings[:, fg].T.astype(np.float64)
    _, assignment = kmeans2(points, k, minit="++", seed=np.random.default_rng(seed))
    labels = np.zeros(fg.shape, np.int32)
    labels[fg] = assignment + 1
    return drop_small(labels, min_size)


def meanshift_decode(embeddings, fg, bandwidth, min_size):
    from sklearn.cluster import MeanShift

    points = embeddings[:, fg].T.astype(np.float64)
    assignment = MeanShift(bandwidth=bandwidth, bin_seeding=True, cluster_all=True).fit_predict(points)
    labels = np.zeros(fg.shape, np.int32)
    labels[fg] = assignment + 1
    return drop_small(labels, min_size)


def have_sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def run(cases, decoders, repeats):
    """{decoder: (median seconds per image, min, summary metrics)} over cases [(inputs..., truth)]."""
    out = {}
    for name, decode in decoders.items():
        times, results = [], []
        for case in cases:
            per_case = []
            for _ in range(repeats):
                start = time.perf_counter()
                labels = decode(case)
                per_case.append(time.perf_counter() - start)
            times.append(statistics.median(per_case))
            results.append(evaluate(case["truth"], labels))
        out[name] = (statistics.median(times), min(times), summarize(results))
        print(f"{name:<60} {out[name][0] * 1e3:9.1f} ms  AP50 {out[name][2]['ap50']:.3f}  "
              f"mean AP {out[name][2]['mean_ap']:.3f}", flush=True)
    return out


def table(results, baseline):
    base = results[baseline][0]
    lines = ["| decoder | median s / image | min s | AP50 | mean AP (0.5:0.95) | SBD | time vs (a) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, (median, fastest, m) in results.items():
        lines.append(f"| {name} | {median:.3f} | {fastest:.3f} | {m['ap50']:.3f} | {m['mean_ap']:.3f} | "
                     f"{m['sbd']:.3f} | {median / base:.1f}x |")
    return "\n".join(lines)


def synthetic_cases(args):
    embeddings, truth, seeds = make_scene(seed=args.seed)
    case = {"embeddings": embeddings, "fg": truth > 0, "seeds": seeds, "truth": truth, "k": int(truth.max())}
    print(f"synthetic scene {truth.shape}: {case['k']} instances, {case['fg'].sum()} foreground pixels, D = 8")
    return [case]


def model_cases(args):
    from napari_deepcolor.io import find_pairs, read_image, read_mask_stack
    from napari_deepcolor.predict.network import load_model, predict_embeddings

    model = load_model(args.model, device="cpu")
    cases = []
    for image_path, masks in find_pairs(args.data / "images", args.data / "masks")[-10:][: args.wells]:
        result = predict_embeddings(model, read_image(image_path))
        truth = read_mask_stack(masks)
        fg = result.foreground >= model.config.foreground_threshold
        cases.append({"embeddings": result.embeddings, "fg": fg, "seeds": result.seeds, "truth": truth,
                      "k": len(truth), "sigma": result.sigma})
    print(f"{len(cases)} of the 10 BBBC010 validation wells, model {args.model}: σ = {cases[0]['sigma']:.3f}, "
          f"{np.median([c['fg'].sum() for c in cases]):.0f} foreground pixels per image (median)")
    return cases, model.config


def decoders_for(sigma, threshold, min_size, with_seeds_label, bandwidth):
    decoders = {
        f"(a) cluster_embeddings, {with_seeds_label}": lambda c: cluster_embeddings(
            c["embeddings"], c["fg"], sigma=sigma, threshold=threshold, min_size=min_size, seeds=c["seeds"]).labels,
        "(a') cluster_embeddings, no seed map (raster-order seeds)": lambda c: cluster_embeddings(
            c["embeddings"], c["fg"], sigma=sigma, threshold=threshold, min_size=min_size).labels,
        "(b) k-means, true K (scipy kmeans2, k-means++)": lambda c: kmeans_decode(c["embeddings"], c["fg"], c["k"],
                                                                                   min_size),
    }
    if have_sklearn():
        decoders[f"(c) mean-shift (scikit-learn, bandwidth {bandwidth:.3f}, bin seeding)"] = \
            lambda c: meanshift_decode(c["embeddings"], c["fg"], bandwidth, min_size)
    return decoders


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a trained semiconv checkpoint: also benchmark on its BBBC010 embeddings")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/bbbc010/train"))
    parser.add_argument("--wells", type=int, default=10, help="with --model: the first N of the 10 validation wells")
    parser.add_argument("--min-size", type=float, default=20, help="τ for every decoder on the synthetic scene "
                        "(default 20; on BBBC010 the model's stored τ)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--note", default="2-core CPU shared with a training run")
    args = parser.parse_args(argv)

    sigma, threshold = 0.3, 0.5
    radius = -sigma * np.log(threshold)
    print("synthetic:")
    synthetic = run(synthetic_cases(args), decoders_for(sigma, threshold, args.min_size,
                                                          "seed map = K_σ to the code", radius), args.repeats)
    load = os.getloadavg()[0]
    first = next(iter(synthetic))
    sections = [f"""### Synthetic embeddings

512 x 512 scene, {make_scene(seed=args.seed)[1].max()} overlapping ellipses, D = 8, noise 0.05 per dimension and
3 % outliers (σ_noise 0.5); σ = {sigma}, threshold {threshold} (kernel radius {radius:.3f} embedding units), τ =
{args.min_size:g} px. {"Median over " + str(args.repeats) + " runs" if args.repeats > 1 else "One run"}.

{table(synthetic, first)}
"""]
    if args.model:
        print("BBBC010:")
        cases, config = model_cases(args)
        model_sigma = cases[0]["sigma"]
        model_radius = -model_sigma * np.log(config.kernel_threshold)
        real = run(cases, decoders_for(model_sigma, config.kernel_threshold, config.min_size, "trained seed head",
                                       model_radius), args.repeats)
        sections.append(f"""### Embeddings of the trained model on {len(cases)} of the 10 BBBC010 validation wells

`--model {args.model}`: σ = {model_sigma:.3f} (trained), threshold {config.kernel_threshold:g} (kernel radius
{model_radius:.3f}), the model's foreground at {config.foreground_threshold:g}, its τ = {config.min_size:g} px,
520 x 696 images; decoding time per image (median over wells of {args.repeats} run(s) each), metrics against the
per-worm masks. Network inference is not included (the same for every decoder).

{table(real, next(iter(real)))}
""")
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores ({args.note}); Python "
               f"{platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}")
    if have_sklearn():
        import sklearn

        machine += f", scikit-learn {sklearn.__version__}"
    command = "python benchmarks/bench_cluster_embeddings.py" + (f" --model {args.model}" if args.model else "") \
        + (f" --wells {args.wells}" if args.model and args.wells != 10 else "") \
        + (f" --repeats {args.repeats}" if args.repeats != 3 else "") \
        + (f" --min-size {args.min_size:g}" if args.min_size != 20 else "")
    text = f"""{HEADING}

`{command}`: seeded growing with the steered kernel (`cluster_embeddings`, (a)) against k-means told the true
number of instances (b) and mean-shift (c) on the same embeddings and foreground; accuracy with the metrics of
`napari_deepcolor.metrics` (AP = TP / (TP + FP + FN), averaged over images). For scale: the deep coloring paper
reports 0.05 s for its connected-components decoding against 30 s for mean-shift. Mean-shift here uses
scikit-learn's bin seeding (its fast setting); every pixel as a seed was not timed.

Machine: {machine}. 1-minute load average during the run: {load:.1f}.

{chr(10).join(sections)}"""
    print(text)
    if not args.no_write:
        record(HEADING, text)


if __name__ == "__main__":
    main()
