"""Instance segmentation by deep coloring and semi-convolutional embeddings, for napari.

Nothing heavy is imported here: torch, napari and Qt are loaded only by the modules that need them.
"""

__version__ = "0.1.0"
