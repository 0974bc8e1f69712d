"""Sample data for napari's File > Open Sample menu, read from files bundled in ``samples/``.

No network access, and no torch, napari or Qt at import: napari types are named as strings only.
Attributions and licences of the files are in ``samples/README.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tifffile

from napari_deepcolor.zoo import DEFAULT_FOR_KIND, MODEL_KEY

if TYPE_CHECKING:
    import napari.types

SAMPLES_DIR = Path(__file__).parent / "samples"
#: A gray sample's display contrast: these percentiles of its pixels. Min/max, or even the 99.8th percentile, leave
#: the bright-field worms well nearly black (its few bright specks set the top: the worms, median 108 on a 94
#: background, would show at 4 % gray at the 99.8th percentile, 617; at the 99.5th, 175, they show at 25 %).
DISPLAY_PERCENTILES = (1.0, 99.5)


def _read_pair(
    image_file: str, labels_file: str, name: str, model: str
) -> list[napari.types.LayerDataTuple]:
    """Read an image and its label image from ``samples/`` as two napari layer-data tuples.

    Parameters
    ----------
    image_file, labels_file : str
        File names inside ``samples/``; the image is gray ``(Y, X)`` or RGB ``(Y, X, 3)``.
    name : str
        Layer name; the labels layer is called ``f"{name} labels"``.
    model : str
        The bundled model for this image, stored in the image layer's metadata under `MODEL_KEY`.

    Returns
    -------
    list of (data, kwargs, layer_type)
        ``[(image, {"name": name, "metadata": ..., "contrast_limits": ...}, "image"), (labels, {"name": ...,
        "visible": False}, "labels")]``; ``labels`` is int32 with 0 = background, hidden (toggle its eye to compare).
    """
    image = tifffile.imread(SAMPLES_DIR / image_file)
    labels = tifffile.imread(SAMPLES_DIR / labels_file).astype(np.int32)
    rgb = image.ndim == 3 and image.shape[-1] == 3
    if image.shape[: image.ndim - rgb] != labels.shape:
        raise ValueError(
            f"sample {name!r} is damaged: image shape {image.shape} differs from labels shape "
            f"{labels.shape}; reinstall napari-deepcolor"
        )
    # A gray image's contrast from its percentiles (`DISPLAY_PERCENTILES`), not its min/max. The ground truth starts
    # hidden, so that the model's instances are not drawn over it.
    limits = None if rgb else tuple(float(v) for v in np.percentile(image, DISPLAY_PERCENTILES))
    style = {"rgb": True} if rgb else {"contrast_limits": limits}
    return [
        (image, {"name": name, "metadata": {MODEL_KEY: model}, **style}, "image"),
        (labels, {"name": f"{name} labels", "visible": False}, "labels"),
    ]


def worms_sample() -> list[napari.types.LayerDataTuple]:
    """C. elegans bright-field image (BBBC010, well A01) and its worm labels.

    Returns
    -------
    list of (data, kwargs, layer_type)
        image : ndarray, shape (520, 696), uint16 (12-bit values, worms bright on dark);
        labels : ndarray, shape (520, 696), int32, 15 worms, 0 = background. Where worms overlap,
        the pixel belongs to the worm with the higher mask number.
    """
    return _read_pair("bbbc010_A01.tif", "bbbc010_A01_labels.tif", "worms BBBC010 A01",
                      DEFAULT_FOR_KIND["C. elegans (worms)"])


def worm_mask_sample() -> list[napari.types.LayerDataTuple]:
    """The human foreground annotation of BBBC010 well A01 (a binary mask of its worms) and its worm labels: the
    input of the `worms-mask` model, which splits a mask into worms.

    Returns
    -------
    list of (data, kwargs, layer_type)
        image : ndarray, shape (520, 696), uint8, 255 = worm, 0 = background;
        labels : ndarray, shape (520, 696), int32, the 15 worms of `worms_sample`.
    """
    return _read_pair("bbbc010_A01_foreground.tif", "bbbc010_A01_labels.tif", "worms BBBC010 A01 foreground",
                      "worms-mask")


def ecoli_sample() -> list[napari.types.LayerDataTuple]:
    """E. coli phase-contrast micro-colony (Omnipose test image) and its labels.

    Returns
    -------
    list of (data, kwargs, layer_type)
        image : ndarray, shape (334, 321), uint16;
        labels : ndarray, shape (334, 321), int32, 159 cells, 0 = background. The labels are
        Omnipose's own segmentation (silver standard), not a manual annotation.
    """
    return _read_pair("ecoli_colony.tif", "ecoli_colony_labels.tif", "E. coli colony",
                      DEFAULT_FOR_KIND["E. coli (colony)"])


def leaves_sample() -> list[napari.types.LayerDataTuple]:
    """A generated top view of a potted plant rosette (RGB) and its leaf labels.

    Returns
    -------
    list of (data, kwargs, layer_type)
        image : ndarray, shape (512, 512, 3), uint8 RGB: a pot in a tray, soil with moss;
        labels : ndarray, shape (512, 512), int32, 16 leaves, 0 = background. Made by
        ``napari_deepcolor.training.synthetic_rosette.rosette(2_000_003)``: synthetic, not a photograph.
    """
    return _read_pair("rosette.tif", "rosette_labels.tif", "rosette (synthetic)",
                      DEFAULT_FOR_KIND["Leaves (rosette)"])


def nuclei_sample() -> list[napari.types.LayerDataTuple]:
    """A generated fluorescence image of stained nuclei (gray, 16-bit) and its nucleus labels.

    Returns
    -------
    list of (data, kwargs, layer_type)
        image : ndarray, shape (512, 512), uint16;
        labels : ndarray, shape (512, 512), int32, 169 nuclei, 0 = background. Made by
        ``napari_deepcolor.training.synthetic_nuclei.nuclei_field(5_000_000, shape=(512, 512))``: synthetic, not a
        micrograph (a seed no model trained, chose or was tested on).
    """
    return _read_pair("nuclei.tif", "nuclei_labels.tif", "nuclei (synthetic)", DEFAULT_FOR_KIND["Fluorescent nuclei"])
