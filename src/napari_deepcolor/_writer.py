"""napari writer: a Labels layer saved as a TIFF label image (File > Save Selected Layer(s)...).

No torch, napari or Qt at import. The file is what `deepcolor predict` writes and `deepcolor evaluate` reads:
zlib-compressed, uint16 when the ids fit, else int32, 0 = background; a stack of labels is one multi-page file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_deepcolor.io import write_labels


def write_labels_tiff(path: str, data: Any, attributes: dict[str, Any]) -> list[str]:
    """Write one Labels layer's data to ``path`` (npe2 single-layer writer).

    Parameters
    ----------
    path : str
        Target file (``.tif`` or ``.tiff``); written atomically, so a failed save leaves no partial file.
    data : array, shape (..., Y, X), integer
        The layer's data; for a multiscale layer, the list of levels (the full-resolution one is written).
    attributes : dict
        The layer's attributes (``multiscale`` is used).

    Returns
    -------
    list of str
        ``[path]``.
    """
    if attributes.get("multiscale"):
        data = data[0]
    return [str(write_labels(path, np.asarray(data)))]
