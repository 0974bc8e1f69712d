"""Prediction: four entries to one network pass.

- `network`: load a model, preprocess, run the network on one image (tiled), decode (`segment`);
- `stack`: the planes of a napari layer, one at a time, decoded live (the Segment widget);
- `large`: an image too large for memory, tile by tile, stitched on disk;
- `batch`: many files (resumable), in process or on dask.distributed;
- `ensemble`: several networks and flips averaged into one model.
"""
