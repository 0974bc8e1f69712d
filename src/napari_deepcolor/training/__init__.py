"""Training: image + labels pairs → dataset → loss → the training loop (events) → a checkpoint.

- `loop`: `train` (a generator of events) and validation; `dataset`: samples and patches;
- `losses` (coloring), `losses_semiconv`; `finetune`: the widget's fine-tuning on napari layers; `presets`;
- `synthetic_scenes` (generated colonies and rosettes), `synthetic_dots` (the dots experiment).
"""
