"""Training: image + labels pairs → dataset → loss → the training loop (events) → a checkpoint.

- `loop`: `train` (a generator of events) and validation; `dataset`: samples and patches;
- `losses` (coloring), `losses_semiconv`; `finetune`: the widget's fine-tuning on napari layers; `presets`;
- `synthetic_scenes` (generated colonies, and the registry of generators), `synthetic_rosette` (plant rosettes:
  realistic photos of potted plants, and the plain ones of the first models), `synthetic_nuclei` (fluorescent
  nuclei), `synthetic_dots` (the dots experiment); `holdout`: the held-out part of a fine-tuning's annotations.
"""
