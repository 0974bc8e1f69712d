"""The labelled images of the object-size experiments, per bundled model: what its size model is fitted on (its own
training images) and what the benchmark measures on (images it never trained or chose on).

- worms, worms-mask: fitted on the BBBC010 training wells (the first 39); measured on the 10 validation wells.
- ecoli, ecoli-semiconv: fitted on the colony's training strip (rows 0-127) and 20 generated colonies (seeds
  0-19); measured on the test strip (rows 167-333) and 10 generated colonies (seeds 10000-10009).
- leaves, leaves-semiconv: fitted on 40 generated rosettes (seeds 0-39, among the 400 they trained on; the plain
  generator's for `leaves`; for `leaves-semiconv` those of its last training stage, realistic rosettes with
  consumer-photo artefacts, `rosette-artefacts`); measured on 10 generated rosettes (seeds 10000-10009) of the plain
  or the realistic generator (without the artefacts).
- nuclei: fitted on 40 generated fluorescence images of its last training stage (`nuclei-artefacts`, seeds 0-39,
  among the 400 it trained on); measured on 10 generated images without the artefacts (seeds 10000-10009).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tifffile

from napari_deepcolor.io import read_image, read_labels, read_mask_stack
from napari_deepcolor.training.synthetic_scenes import synthetic_pairs

ROOT = Path(__file__).resolve().parents[2]
BBBC010 = ROOT.parent / "shared" / "data" / "bbbc010" / "train"
SAMPLES = ROOT / "src" / "napari_deepcolor" / "samples"
TEST_SEED = 10_000
sys.path.insert(0, str(ROOT / "experiments" / "bbbc010"))


def _mask2d(image: np.ndarray) -> np.ndarray:
    """A foreground annotation (gray or RGBA PNG) as one float mask (Y, X)."""
    image = np.asarray(image)
    if image.ndim == 3:
        image = image[..., :3].max(axis=-1)
    return (image > 0).astype(np.float32)


def bbbc010(part: str, *, mask_input: bool) -> list[tuple[np.ndarray, np.ndarray | None]]:
    from bbbc010_split import TRAINING_WELLS, all_pairs, read_input

    pairs = all_pairs(BBBC010)
    pairs = pairs[:TRAINING_WELLS] if part == "train" else pairs[-10:]
    out = []
    for image, masks in pairs:
        x = read_input(image, mask_input=mask_input)
        x = _mask2d(x) if mask_input else x
        out.append((x, read_mask_stack(masks)))
    return out


def ecoli(part: str) -> list[tuple[np.ndarray, np.ndarray | None]]:
    image, labels = tifffile.imread(SAMPLES / "ecoli_colony.tif"), tifffile.imread(SAMPLES / "ecoli_colony_labels.tif")
    rows = (0, 128) if part == "train" else (167, 334)
    real = [(image[rows[0]:rows[1]], labels[rows[0]:rows[1]])]
    seed, count = (0, 20) if part == "train" else (TEST_SEED, 10)
    return real + list(synthetic_pairs("ecoli", count, seed=seed))


def rosettes(part: str, *, realistic: bool = True) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Generated rosettes: the realistic generator's (`synthetic_rosette.rosette`, what `leaves-semiconv` trains on
    now) or the plain one's (`rosette_plain`, what `leaves` was trained on)."""
    from napari_deepcolor.training.synthetic_rosette import rosette_plain

    seed, count = (0, 40) if part == "train" else (TEST_SEED, 10)
    if realistic:  # the bundled model's last stage trained on the artefacts' kind
        return list(synthetic_pairs("rosette-artefacts" if part == "train" else "rosette", count, seed=seed))
    return [rosette_plain(seed + i) for i in range(count)]


def nuclei(part: str) -> list[tuple[np.ndarray, np.ndarray | None]]:
    seed, count = (0, 40) if part == "train" else (TEST_SEED, 10)  # the bundled model's last stage: artefacts
    return list(synthetic_pairs("nuclei-artefacts" if part == "train" else "nuclei", count, seed=seed))


def images_for(model: str, part: str) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """``part`` "train" (fit) or "test" (measure): (image, labels or a mask stack) pairs."""
    if model.startswith("worms"):
        return bbbc010(part, mask_input=model == "worms-mask")
    if model.startswith("ecoli"):
        return ecoli(part)
    if model.startswith("leaves"):
        return rosettes(part, realistic=model == "leaves-semiconv")
    if model.startswith("nuclei"):
        return nuclei(part)
    raise ValueError(f"no object-size data for {model!r}")


#: Canvases of the generated held-out images drawn at other extents (`other_extents`), pixels a side.
CANVASES = {"ecoli": (128, 512, 1024), "nuclei": (128, 512, 1024), "leaves-semiconv": (1024,)}
EXTENT_IMAGES = 5


def other_extents(model: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Held-out images whose objects are drawn at the usual size on another extent: (what, image, labels).

    The generators of `ecoli`, `ecoli-semiconv`, `nuclei` and `leaves-semiconv` draw their objects at a size in pixels
    whatever the canvas: their test seeds on canvases of `CANVASES`. For the others (BBBC010 wells, and plain rosettes,
    whose plants grow with the canvas): each test image's central half (half the rows and columns) and a 2 x 2
    mosaic of it with its mirror images (labels renumbered per copy).
    """
    kind = "ecoli" if model.startswith("ecoli") else model
    if kind in CANVASES:
        generator = {"leaves-semiconv": "rosette"}.get(kind, kind)
        from napari_deepcolor.training.synthetic_scenes import GENERATORS

        return [(f"{n} x {n} canvas", *GENERATORS[generator](TEST_SEED + i, shape=(n, n)))
                for n in CANVASES[kind] for i in range(EXTENT_IMAGES)]
    out = []
    for image, labels in images_for(model, "test")[:EXTENT_IMAGES]:
        h, w = image.shape[0], image.shape[1]
        crop = (slice(h // 4, h // 4 + h // 2), slice(w // 4, w // 4 + w // 2))
        out.append(("central half", image[crop], _spatial(labels)[(..., *crop)]))
    for image, labels in images_for(model, "test")[:EXTENT_IMAGES]:
        out.append(("2 x 2 mirrored mosaic", _mosaic(image), _mosaic(_spatial(labels), relabel=True)))
    return out


def _spatial(labels: np.ndarray) -> np.ndarray:
    """A mask stack (N, Y, X) as one label image where masks do not overlap (the first mask wins)."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return labels
    out = np.zeros(labels.shape[1:], np.int32)
    for i, mask in enumerate(labels, start=1):
        out[(mask > 0) & (out == 0)] = i
    return out


def _mosaic(array: np.ndarray, *, relabel: bool = False) -> np.ndarray:
    copies = [array, array[:, ::-1], array[::-1], array[::-1, ::-1]]
    if relabel:
        step = int(array.max()) + 1
        copies = [np.where(c > 0, c + k * step, 0).astype(np.int32) for k, c in enumerate(copies)]
    return np.concatenate([np.concatenate(copies[:2], 1), np.concatenate(copies[2:], 1)], 0)


__all__ = ["images_for", "other_extents", "read_image", "read_labels"]
