"""Decoding: network outputs → instance ``labels (Y, X) int32, 0 = background``.

- `coloring`: color probabilities ``probs (C, *spatial)`` → instances (τ, ρ, fragment joining);
- `embeddings`: semi-convolutional embeddings + foreground → instances (seeded clustering);
- `stitch`: tiles of an out-of-core image → one label image; `display`: how embeddings are shown.

Only numpy, scipy and scikit-image: no torch, Qt or napari (checked by import-linter).
"""

from napari_deepcolor.postprocess.coloring import (
           ColorComponents,
           colors_to_labels,
           fragment_absorbers,
           restrict_to_foreground,
)
from napari_deepcolor.postprocess.embeddings import Clustering, SeedSearch, cluster_embeddings, seeded_clusters
from napari_deepcolor.postprocess.instances import Instances

__all__ = ["Clustering", "ColorComponents", "Instances", "SeedSearch", "cluster_embeddings", "colors_to_labels",
           "fragment_absorbers", "restrict_to_foreground", "seeded_clusters"]
