"""Figure of a semiconv model's output on one BBBC010 well: image, foreground, embeddings, displacements, instances.

Usage::

    python experiments/bbbc010/semiconv_figure.py --model runs/semiconv/best.safetensors \\
        --image ../shared/data/bbbc010/train/images/D21.tif --output docs/img/semiconv_bbbc010.png

Uses only the napari-ready helpers of `napari_deepcolor.postprocess.display` (the same arrays a napari viewer would get) and
matplotlib. Decoding knobs default to the model's stored ones; pass them to show others.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from napari_deepcolor.io import read_image
from napari_deepcolor.postprocess.display import displacement_vectors, embedding_rgb
from napari_deepcolor.predict.network import load_model, segment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--image", type=Path, required=True)
    parser.add_argument("--output", type=Path, default=Path("docs/img/semiconv_bbbc010.png"))
    parser.add_argument("--min-size", type=float)
    parser.add_argument("--threshold", type=float)
    parser.add_argument("--foreground-threshold", type=float)
    parser.add_argument("--step", type=int, default=6, help="one arrow every STEP pixels")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage.color import label2rgb

    model = load_model(args.model, device="cpu")
    image = read_image(args.image)
    instances, out = segment(model, image, min_size=args.min_size, threshold=args.threshold,
                             foreground_threshold=args.foreground_threshold)
    fg_threshold = args.foreground_threshold or model.config.foreground_threshold
    fg = out.foreground >= fg_threshold
    vectors = displacement_vectors(out.embeddings, unit=out.unit, foreground=fg, step=args.step)
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.6))
    low, high = np.percentile(image, (1, 99.8))
    axes[0].imshow(image, cmap="gray", vmin=low, vmax=high)
    axes[0].set_title(f"{args.image.stem}: bright-field image", fontsize=10)
    axes[1].imshow(out.foreground, cmap="magma", vmin=0, vmax=1)
    axes[1].set_title(f"foreground probability (segmented at >= {fg_threshold:g})", fontsize=10)
    axes[2].imshow(embedding_rgb(out.embeddings, foreground=fg))
    axes[2].quiver(vectors[:, 0, 1], vectors[:, 0, 0], vectors[:, 1, 1], vectors[:, 1, 0], angles="xy",
                   scale_units="xy", scale=1, color="white", width=0.0015)
    axes[2].set_title("embedding PCA (color) and displacements Φ_g (arrows, image px)", fontsize=10)
    axes[3].imshow(label2rgb(instances.labels, image=(np.clip((image - low) / (high - low), 0, 1)), bg_label=0,
                             alpha=0.5))
    axes[3].set_title(f"cluster_embeddings: {instances.n_instances} instances (σ = {out.sigma:.2f})", fontsize=10)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=90)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
