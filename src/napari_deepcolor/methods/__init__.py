"""The two instance-segmentation methods, one object each behind one interface (`Method`).

- `coloring`: deep coloring, color probabilities ``probs (C, Y, X)`` → connected components per color;
- `semiconv`: semi-convolutional embeddings + foreground + seeds → seeded clustering.

`get_method` gives the object for a ``ModelConfig.method``. It knows a method's decoding knobs and their recommended
values, decodes the network's output, says what that output holds (color channels, displacement vectors), builds the
training loss and scores validation images. No torch, Qt or napari at import: torch is imported inside the functions
that need it. `napari_deepcolor.config` and `napari_deepcolor.models` sit below it in the import layers and name
the methods themselves.
"""

from __future__ import annotations

from napari_deepcolor.methods.coloring import Coloring
from napari_deepcolor.methods.method import Method
from napari_deepcolor.methods.semiconv import Semiconv

#: The methods by name (``ModelConfig.method``; the names are `napari_deepcolor.config.METHODS`).
METHODS: dict[str, Method] = {method.name: method for method in (Coloring(), Semiconv())}


def get_method(name: str) -> Method:
    """The method called ``name`` (``ModelConfig.method``).

    Raises
    ------
    ValueError
        An unknown name; the message lists the valid ones.
    """
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {name!r}; valid methods are {list(METHODS)}") from None


__all__ = ["METHODS", "Method", "get_method"]
