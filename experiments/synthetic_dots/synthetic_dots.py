"""The semi-convolutional paper's synthetic experiment (sec. 4.1, Fig. 3): identical dots on a regular grid.

Usage::

    python experiments/synthetic_dots/synthetic_dots.py --output docs/img/synthetic_dots.png

Trains the same small U-Net twice on one image of identical dots with eq. 5 only (as the paper does): once as a
purely convolutional embedding Ψ = Φ, once semi-convolutional Ψ = Φ + û. The foreground embeddings are clustered
with k-means into the true number of dots (as in the paper) and, for the semi-convolutional one, also decoded with
`cluster_embeddings`. Prints AP50 / mean AP of each and writes a figure (needs matplotlib).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from napari_deepcolor.metrics import evaluate
from napari_deepcolor.postprocess.display import displacement_vectors, embedding_rgb
from napari_deepcolor.postprocess.embeddings import cluster_embeddings
from napari_deepcolor.training.synthetic_dots import dot_grid, fit_dot_embedding, kmeans_labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("docs/img/synthetic_dots.png"))
    parser.add_argument("--grid", type=int, default=8, help="dots per row and column (default 8)")
    parser.add_argument("--pitch", type=int, default=16)
    parser.add_argument("--radius", type=int, default=4)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--coordinate-scale", type=float, default=16.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    image, labels = dot_grid(args.grid, args.grid, pitch=args.pitch, radius=args.radius)
    fg = labels > 0
    k = int(labels.max())
    print(f"{k} identical dots of radius {args.radius} px, pitch {args.pitch} px, image {image.shape}; "
          f"U-Net depth 2 width 8, D = 8, eq. 5 only, {args.steps} Adam steps\n")
    print("| embedding | final eq. 5 | decoder | AP50 | mean AP |\n|---|---|---|---|---|")
    fits, results = {}, {}
    for semiconv in (False, True):
        start = time.perf_counter()
        fit = fit_dot_embedding(image, labels, semiconv=semiconv, steps=args.steps,
                                coordinate_scale=args.coordinate_scale, seed=args.seed)
        fits[semiconv] = fit
        name = "semi-convolutional Ψ = Φ + û" if semiconv else "convolutional Ψ = Φ"
        pred = kmeans_labels(fit.embeddings, fg, k, seed=args.seed)
        results[semiconv] = (pred, evaluate(labels, pred))
        m = results[semiconv][1]
        print(f"| {name} | {fit.losses[-1]:.4f} | k-means, true K = {k} | {m['ap50']:.3f} | {m['mean_ap']:.3f} |")
        # σ: the kernel radius −σ log(0.5) is then a third of the pitch, in embedding units
        sigma = args.pitch / args.coordinate_scale / 3 / np.log(2)
        decoded = cluster_embeddings(fit.embeddings, fg, sigma=sigma, threshold=0.5)
        m = evaluate(labels, decoded.labels)
        print(f"| {name} | | cluster_embeddings (σ = {sigma:.2f}), {decoded.n_instances} instances | "
              f"{m['ap50']:.3f} | {m['mean_ap']:.3f} |")
        print(f"<!-- {name}: {time.perf_counter() - start:.1f} s -->")
    interior = (slice(None), args.pitch // 2 + 2 * args.pitch, args.pitch // 2 + 2 * args.pitch)
    neighbour = (slice(None), interior[1], interior[2] + args.pitch)
    for semiconv, fit in fits.items():
        d = np.linalg.norm(fit.embeddings[interior] - fit.embeddings[neighbour])
        print(f"\n{'semiconv' if semiconv else 'conv'}: embedding distance between the centres of two neighbouring "
              f"interior dots = {d:.4f} units")
    figure(args, image, labels, fits, results)


def figure(args, image, labels, fits, results) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage.color import label2rgb

    fg = labels > 0
    fig, axes = plt.subplots(1, 5, figsize=(17, 4.4))
    rng = np.random.default_rng(1)
    colors = rng.uniform(0.2, 1.0, (int(labels.max()) + 1, 3))

    def show_labels(ax, lab, title):
        ax.imshow(label2rgb(lab, colors=colors[1:], bg_label=0))
        ax.set_title(title, fontsize=10)

    axes[0].imshow(image, cmap="gray")
    axes[0].set_title("(a) image: identical dots", fontsize=10)
    show_labels(axes[1], labels, "(b) ground truth")
    for ax, semiconv, name in ((axes[2], False, "(c) conv Φ + k-means"), (axes[3], True,
                                                                           "(d) semi-conv Φ + û + k-means")):
        pred, m = results[semiconv]
        show_labels(ax, pred, f"{name}\nAP50 {m['ap50']:.2f}")
    semi = fits[True]
    # a 3 x 3-dot crop, so the arrows can be read
    lo, hi = 2 * args.pitch, 5 * args.pitch
    axes[4].imshow(embedding_rgb(semi.embeddings, foreground=fg)[lo:hi, lo:hi], extent=(lo - 0.5, hi - 0.5,
                                                                                        hi - 0.5, lo - 0.5))
    vectors = displacement_vectors(semi.embeddings, unit=args.coordinate_scale, foreground=fg, step=2)
    inside = np.all((vectors[:, 0] >= lo) & (vectors[:, 0] < hi), axis=1)
    vectors = vectors[inside]
    axes[4].quiver(vectors[:, 0, 1], vectors[:, 0, 0], vectors[:, 1, 1], vectors[:, 1, 0], angles="xy",
                   scale_units="xy", scale=1, color="white", width=0.006)
    axes[4].set_xlim(lo - 0.5, hi - 0.5)
    axes[4].set_ylim(hi - 0.5, lo - 0.5)
    axes[4].set_title("(e) semi-conv, 3x3-dot crop: displacements\nΦ_g (arrows), embedding PCA (color)", fontsize=10)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=110)
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
